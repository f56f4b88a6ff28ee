// Small helpers shared by the unit tests.
#pragma once

#include <string>

namespace synod::test {

// "prefix" followed by i: distinct commands for proposals. Built by append:
// GCC 12 mistakes `prefix + std::to_string(i)` for an overlapping memcpy.
inline std::string numbered(const std::string& prefix, int i) {
  std::string s = prefix;
  s.append(std::to_string(i));
  return s;
}

}  // namespace synod::test
