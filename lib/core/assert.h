// Always-on assertions for safety conditions: a violated invariant stops the
// replica loudly rather than let it answer from a broken state.
#pragma once

#include <fmt/format.h>

#include <string>

namespace synod::detail {
// Calls the panic handler (synod/panic.h); aborts if it returns.
[[noreturn]] void assert_failed(const char* expr, const char* file, int line,
                                const std::string& why);
}  // namespace synod::detail

#define SYNOD_ASSERT(cond, ...)                                                            \
  do {                                                                                     \
    if (!(cond)) [[unlikely]]                                                              \
      ::synod::detail::assert_failed(#cond, __FILE__, __LINE__, fmt::format(__VA_ARGS__)); \
  } while (0)
