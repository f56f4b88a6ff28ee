// Takes the key space's snapshot image off the event loop: fork() freezes
// the state machine as it is now (copy-on-write pages, as Redis's BGSAVE
// does), the child serialises it into a pipe and exits, and the loop reads
// the pipe in bounded slices (libuv reads) while it goes on serving. The
// loop pays for fork() itself (copying page tables: about a millisecond per
// 100 MiB of resident memory) and nothing proportional to the keys.
#pragma once

#include <sys/types.h>
#include <uv.h>

#include <cstdint>
#include <functional>
#include <string>

namespace synod::kv {

class ForkedSnapshot {
 public:
  // `image` runs in the child only; `done` runs on the loop with the image,
  // or with ok = false and why (the fork, the pipe or the child failed).
  using Image = std::function<std::string()>;
  using Done = std::function<void(bool ok, std::string image, std::string why)>;

  explicit ForkedSnapshot(uv_loop_t* loop) : loop_(loop) {}
  ~ForkedSnapshot();
  ForkedSnapshot(const ForkedSnapshot&) = delete;
  ForkedSnapshot& operator=(const ForkedSnapshot&) = delete;

  // False (and `done` not called) when one is already running or the fork
  // failed; *why says which.
  bool start(const Image& image, Done done, std::string* why);
  bool running() const { return pipe_ != nullptr; }
  // Abandons a running snapshot: the child is killed, `done` not called.
  void stop();

 private:
  void on_read(ssize_t n, const char* data);
  void finish(bool ok, std::string why);
  void close_pipe();
  void reap();
  std::uint64_t length() const;  // the image's, from header_

  uv_loop_t* loop_;
  uv_pipe_t* pipe_ = nullptr;
  pid_t child_ = -1;
  // The child writes the image's length (8 bytes, little-endian), then it.
  std::string header_;
  std::string received_;
  Done done_;
};

}  // namespace synod::kv
