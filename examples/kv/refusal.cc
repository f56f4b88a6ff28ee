#include "refusal.h"

#include <fmt/format.h>

namespace synod::kv {

std::string refusal(const ProposeResult& r, const AddressBook& book) {
  switch (r.status) {
    case Status::not_leader:
      return book.moved(r.leader_hint);
    case Status::overloaded:
      return "-BUSY too many writes queued; retry shortly\r\n";
    case Status::too_large:
      return "-ERR command too large\r\n";
    case Status::rejoining:
      return "-TRYAGAIN this replica is rejoining after losing its state\r\n";
    default:
      return fmt::format("-ERR replica unavailable ({})\r\n", to_string(r.status));
  }
}

std::string not_committed(const ProposalOutcome& o, const AddressBook& book) {
  if (o.outcome == Outcome::not_leader) return book.moved(o.leader_hint);
  // Never a plain error: the command may still be chosen by a later leader.
  return "-UNKNOWN outcome unknown: the leader changed before this command was "
         "confirmed; it may or may not have been applied\r\n";
}

}  // namespace synod::kv
