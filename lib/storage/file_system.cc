// Helpers shared by every FileSystem: errno mapping and path joining.
#include "synod/file_system.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

namespace synod {

IoStatus IoStatus::from_errno(int error_number, std::string_view operation, std::string_view path) {
  // EDQUOT is a disk full for this user: the same remedy (free space) applies.
  bool full = error_number == ENOSPC || error_number == EDQUOT;
  return IoStatus{full ? Status::no_space : Status::storage_error,
                  fmt::format("{} {}: {}", operation, path, std::strerror(error_number))};
}

IoStatus File::write_zeros(std::uint64_t offset, std::uint64_t bytes) {
  static const std::vector<std::byte> kZeros(1u << 20);
  while (bytes > 0) {
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(kZeros.size(), bytes));
    std::size_t written = 0;
    if (IoStatus st = write_at(offset, {kZeros.data(), n}, &written); !st.ok()) return st;
    // A write that moves nothing and reports no error would loop for ever.
    if (written == 0)
      return IoStatus::failure(Status::storage_error, "write of zeros: wrote 0 bytes");
    offset += written;
    bytes -= written;
  }
  return {};
}

IoStatus File::write_uncached(std::uint64_t offset, std::span<const std::byte> data) {
  while (!data.empty()) {
    std::size_t written = 0;
    if (IoStatus st = write_at(offset, data, &written); !st.ok()) return st;
    if (written == 0) return IoStatus::failure(Status::storage_error, "write: wrote 0 bytes");
    offset += written;
    data = data.subspan(written);
  }
  return {};
}

IoStatus File::start_writeback(std::uint64_t, std::uint64_t) { return {}; }

std::string join_path(std::string_view dir, std::string_view name) {
  if (dir.empty()) return std::string(name);
  if (dir.back() == '/') return fmt::format("{}{}", dir, name);
  return fmt::format("{}/{}", dir, name);
}

std::string parent_dir(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  auto slash = path.rfind('/');
  if (slash == std::string_view::npos) return ".";
  if (slash == 0) return "/";
  return std::string(path.substr(0, slash));
}

}  // namespace synod
