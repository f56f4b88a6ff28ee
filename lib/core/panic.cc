#include "synod/panic.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>

#include "assert.h"

namespace synod {

namespace {
std::atomic<PanicHandler> handler{nullptr};
}

PanicHandler set_panic_handler(PanicHandler h) { return handler.exchange(h); }

namespace detail {

void assert_failed(const char* expr, const char* file, int line, const std::string& why) {
  std::string text = fmt::format("synod: invariant violated: {} ({}:{}) {}", expr, file, line, why);
  if (PanicHandler h = handler.load()) h(text.c_str());
  std::fprintf(stderr, "%s\n", text.c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace detail
}  // namespace synod
