#include "pending_commands.h"

namespace synod::detail {

namespace {

constexpr std::size_t kKeptBytesMax = 4u << 20;  // as the wire decoder's buffer

}  // namespace

void PendingCommands::push(Ticket ticket, std::string_view command) {
  bytes_.append(command);
  items_.push_back(Item{ticket, static_cast<std::uint32_t>(command.size())});
}

void PendingCommands::reclaim() {
  if (items_.empty()) {
    // Keeps the capacity for the next commands, up to a bound: a burst of
    // up to Config::pending_bytes_max must not stay allocated for good.
    if (bytes_.capacity() > kKeptBytesMax)
      std::string().swap(bytes_);
    else
      bytes_.clear();
    head_ = 0;
  } else if (head_ >= bytes_.size() / 2) {
    bytes_.erase(0, head_);
    head_ = 0;
  }
}

}  // namespace synod::detail
