// Always-on assertions for safety conditions: a violated invariant stops the
// process loudly rather than let a replica answer from a broken state.
#pragma once

#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>

namespace synod::detail {
[[noreturn]] inline void assert_failed(const char* expr, const char* file, int line,
                                       const std::string& why) {
  std::fprintf(stderr, "synod: invariant violated: %s (%s:%d) %s\n", expr, file, line,
               why.c_str());
  std::fflush(stderr);
  std::abort();
}
}  // namespace synod::detail

#define SYNOD_ASSERT(cond, ...)                                                     \
  do {                                                                              \
    if (!(cond)) [[unlikely]]                                                       \
      ::synod::detail::assert_failed(#cond, __FILE__, __LINE__, fmt::format(__VA_ARGS__)); \
  } while (0)
