#include "synod/wire.h"

namespace synod::wire {

std::string_view to_string(WireError e) {
  switch (e) {
    case WireError::none:
      return "none";
    case WireError::oversized:
      return "oversized";
    case WireError::bad_checksum:
      return "bad_checksum";
    case WireError::bad_buffer:
      return "bad_buffer";
    case WireError::unsupported_version:
      return "unsupported_version";
    case WireError::unknown_type:
      return "unknown_type";
    case WireError::invalid:
      return "invalid";
  }
  return "?";
}

}  // namespace synod::wire
