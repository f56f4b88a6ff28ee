#include "forked_snapshot.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace synod::kv {
namespace {

constexpr std::size_t kLengthBytes = 8;

bool write_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

// The child: no locks of the parent's other threads are taken (no stdio,
// no logging), only the allocator, which glibc makes safe across fork().
[[noreturn]] void run_child(int fd, const ForkedSnapshot::Image& image, pid_t parent) {
  // Holds none of the parent's sockets (a parent killed and restarted must
  // be able to listen again at once) and dies with the parent.
  if (fd > 0) ::close_range(0, static_cast<unsigned>(fd) - 1, 0);
  ::close_range(static_cast<unsigned>(fd) + 1, ~0u, 0);
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) _exit(1);
  // Background work: the serving processes (this node's loop and its peers
  // on the same machine) come first for the CPU; a slower child costs only
  // a longer copy-on-write window.
  ::setpriority(PRIO_PROCESS, 0, 10);
  std::string bytes = image();
  char length[kLengthBytes];
  std::uint64_t n = bytes.size();
  for (std::size_t i = 0; i < kLengthBytes; ++i)
    length[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  bool ok = write_all(fd, length, kLengthBytes) && write_all(fd, bytes.data(), bytes.size());
  _exit(ok ? 0 : 1);
}

}  // namespace

ForkedSnapshot::~ForkedSnapshot() { stop(); }

bool ForkedSnapshot::start(const Image& image, Done done, std::string* why) {
  if (running()) return (*why = "a snapshot is already being taken"), false;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    return (*why = std::string("pipe: ") + std::strerror(errno)), false;
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    *why = std::string("fork: ") + std::strerror(errno);
    ::close(fds[0]);
    ::close(fds[1]);
    return false;
  }
  if (pid == 0) {
    ::close(fds[0]);
    run_child(fds[1], image, parent);
  }
  ::close(fds[1]);
  child_ = pid;
  done_ = std::move(done);
  received_.clear();
  header_.clear();
  pipe_ = new uv_pipe_t;
  uv_pipe_init(loop_, pipe_, 0);
  pipe_->data = this;
  if (int rc = uv_pipe_open(pipe_, fds[0]); rc != 0) {
    ::close(fds[0]);
    finish(false, std::string("uv_pipe_open: ") + uv_strerror(rc));
    return true;  // done_ was called
  }
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(pipe_),
      [](uv_handle_t*, std::size_t, uv_buf_t* buf) {
        static thread_local std::string scratch(256 * 1024, '\0');
        *buf = uv_buf_init(scratch.data(), static_cast<unsigned>(scratch.size()));
      },
      [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
        static_cast<ForkedSnapshot*>(s->data)->on_read(n, buf->base);
      });
  return true;
}

void ForkedSnapshot::on_read(ssize_t n, const char* data) {
  if (n > 0) {
    std::size_t size = static_cast<std::size_t>(n);
    // The length first, so the image's buffer is reserved once: growing it
    // by doubling would copy up to the whole image on the loop.
    while (size > 0 && header_.size() < kLengthBytes) {
      header_.push_back(*data++);
      --size;
      if (header_.size() == kLengthBytes) received_.reserve(length());
    }
    received_.append(data, size);
    return;
  }
  if (n == 0) return;
  if (n != UV_EOF)
    return finish(false, std::string("reading the pipe: ") + uv_strerror(static_cast<int>(n)));
  finish(true, {});
}

std::uint64_t ForkedSnapshot::length() const {
  std::uint64_t n = 0;
  for (std::size_t i = 0; i < header_.size(); ++i)
    n |= std::uint64_t{static_cast<std::uint8_t>(header_[i])} << (8 * i);
  return n;
}

void ForkedSnapshot::close_pipe() {
  if (!pipe_) return;
  uv_close(reinterpret_cast<uv_handle_t*>(pipe_),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_pipe_t*>(h); });
  pipe_ = nullptr;
}

// The child closed the pipe by exiting (or is about to): waiting is short.
void ForkedSnapshot::reap() {
  if (child_ < 0) return;
  int status = 0;
  while (::waitpid(child_, &status, 0) < 0 && errno == EINTR) {
  }
  child_ = -1;
}

void ForkedSnapshot::finish(bool ok, std::string why) {
  pid_t child = child_;
  close_pipe();
  int status = 0;
  if (child >= 0) {
    if (!ok) ::kill(child, SIGKILL);
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    child_ = -1;
  }
  std::string image;
  if (ok && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
    ok = false;
    why = WIFSIGNALED(status)
              ? "the snapshot child died of signal " + std::to_string(WTERMSIG(status))
              : "the snapshot child failed";
  }
  if (ok && (header_.size() < kLengthBytes || received_.size() != length())) {
    ok = false;
    why = "the snapshot child's image is truncated";
  }
  if (ok) image = std::move(received_);
  received_ = std::string();
  header_.clear();
  Done done = std::move(done_);
  done_ = nullptr;
  if (done) done(ok, std::move(image), std::move(why));
}

void ForkedSnapshot::stop() {
  if (child_ >= 0) ::kill(child_, SIGKILL);
  reap();
  close_pipe();
  done_ = nullptr;
  received_ = std::string();
  header_.clear();
}

}  // namespace synod::kv
