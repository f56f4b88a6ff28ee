// LoopWake (loop_wake.h): an eventfd watched by a uv_poll_t.
#include "loop_wake.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>

namespace synod::detail {

bool LoopWake::start(uv_loop_t* loop, Fn on_wake) {
  fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd_ < 0) return false;
  on_wake_ = std::move(on_wake);
  if (uv_poll_init(loop, &poll_, fd_) != 0) {
    ::close(fd_);
    fd_ = -1;
    return false;
  }
  poll_.data = this;
  uv_poll_start(&poll_, UV_READABLE, [](uv_poll_t* p, int status, int) {
    if (status == 0) static_cast<LoopWake*>(p->data)->on_readable();
  });
  // Like an async handle, waiting for a wake keeps nothing alive.
  uv_unref(reinterpret_cast<uv_handle_t*>(&poll_));
  return true;
}

void LoopWake::wake() {
  if (pending_.exchange(true)) return;  // a write the loop has not read yet
  const std::uint64_t one = 1;
  // Cannot fail short of a counter near 2^64 or a closed descriptor (a wake
  // after close(), which the caller rules out).
  [[maybe_unused]] ssize_t n = ::write(fd_, &one, sizeof one);
}

void LoopWake::on_readable() {
  std::uint64_t count = 0;
  [[maybe_unused]] ssize_t n = ::read(fd_, &count, sizeof count);
  // Cleared before the callback reads what the waker stored: a store after
  // this point comes with a wake that writes again.
  pending_.store(false);
  on_wake_();
}

void LoopWake::close() {
  if (fd_ < 0) {
    delete this;
    return;
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&poll_), [](uv_handle_t* h) {
    auto* self = static_cast<LoopWake*>(h->data);
    ::close(self->fd_);
    delete self;
  });
}

}  // namespace synod::detail
