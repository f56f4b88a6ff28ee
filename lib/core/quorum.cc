#include "quorum.h"

#include <algorithm>

#include "assert.h"

namespace synod::detail {

Quorum::Quorum(const Config& config, PlantedBug bug)
    : alpha_(config.effective_alpha()),
      too_small_(bug == PlantedBug::quorum_too_small),
      early_(bug == PlantedBug::config_before_alpha),
      self_(config.id) {
  reset(Membership{config.voters, config.learners}, Slot{1}, Membership{}, Slot{});
}

bool Quorum::name(const Membership& m) {
  bool all = true;
  auto add = [&](NodeId id) {
    if (index_of(id)) return;
    auto free = std::find(bits_.begin(), bits_.end(), NodeId{});
    if (free != bits_.end())
      *free = id;
    else if (bits_.size() < kMemberIdCapacity)
      bits_.push_back(id);
    else
      all = false;
  };
  for (NodeId v : m.voters) add(v);
  for (NodeId v : m.learners) add(v);
  SYNOD_ASSERT(bits_.size() <= kMemberIdCapacity, "{} member bits for {} ids", bits_.size(),
               kMemberIdCapacity);
  return all;
}

bool Quorum::pin(const Membership& m) {
  for (NodeId v : m.voters) pins_.push_back(v);
  for (NodeId v : m.learners) pins_.push_back(v);
  return name(m);
}

void Quorum::unpin() {
  if (pins_.empty()) return;
  pins_.clear();
  recycle({});
}

bool Quorum::fits(const Membership& m) const {
  std::size_t ids = members_.size();
  for (const std::vector<NodeId>* list : {&m.voters, &m.learners})
    for (NodeId v : *list)
      if (std::find(members_.begin(), members_.end(), v) == members_.end()) ++ids;
  return ids + kSpareMemberIds <= kMemberIdCapacity;
}

bool Quorum::in_use(NodeId id, const std::vector<const Membership*>& keep) const {
  if (id == self_ || std::find(pins_.begin(), pins_.end(), id) != pins_.end()) return true;
  for (std::size_t i = live_; i < history_.size(); ++i)
    if (history_[i].membership.is_member(id)) return true;
  for (const Membership* m : keep)
    if (m->is_member(id)) return true;
  return false;
}

void Quorum::recycle(const std::vector<const Membership*>& keep) {
  VoterMask freed = 0;
  for (unsigned i = 0; i < bits_.size(); ++i) {
    if (!bits_[i].valid() || in_use(bits_[i], keep)) continue;
    bits_[i] = NodeId{};
    freed |= VoterMask{1} << i;
  }
  SYNOD_ASSERT(!(freed & bit(self_)), "this replica's own member bit freed");
  if (freed != 0 && on_freed_) on_freed_(freed);
}

Quorum::Held Quorum::make_held(Slot from, const Membership& m) {
  // The leader refused any change beyond the capacity (fits), and every
  // replica learns configurations in slot order, pruning between them. A
  // campaign's pins give way if need be: its reported configurations then
  // lack voters, so it cannot win (safe) until it campaigns again.
  bool named = name(m);
  if (!named && !pins_.empty()) {
    pins_.clear();
    recycle({&m});
    named = name(m);
  }
  SYNOD_ASSERT(named, "a configuration of {} members found no free member bits (at most {} ids)",
               m.voters.size() + m.learners.size(), kMemberIdCapacity);
  Held h{from, m, 0, m.voters.size() / 2 + 1};
  for (NodeId v : m.voters) {
    SYNOD_ASSERT(bit(v) != 0, "voter {} named but holds no member bit", v.value);
    h.voter_bits |= bit(v);
  }
  if (too_small_ && h.need > 1) --h.need;
  // A majority its voters can reach (a configuration always has voters).
  SYNOD_ASSERT(h.need >= 1 && h.need <= m.voters.size(), "a quorum of {} among {} voters", h.need,
               m.voters.size());
  return h;
}

std::optional<unsigned> Quorum::index_of(NodeId id) const {
  if (!id.valid()) return std::nullopt;  // NodeId{} marks a free bit
  for (unsigned i = 0; i < bits_.size(); ++i)
    if (bits_[i] == id) return i;
  return std::nullopt;
}

VoterMask Quorum::bit(NodeId id) const {
  auto i = index_of(id);
  return i ? VoterMask{1} << *i : 0;
}

bool Quorum::is_member(NodeId id) const {
  for (std::size_t i = live_; i < history_.size(); ++i)
    if (history_[i].membership.is_member(id)) return true;
  return false;
}

bool Quorum::is_voter(NodeId id) const {
  for (std::size_t i = live_; i < history_.size(); ++i)
    if (history_[i].membership.is_voter(id)) return true;
  return false;
}

std::vector<const Membership*> Quorum::held() const {
  std::vector<const Membership*> out;
  for (std::size_t i = live_; i < history_.size(); ++i) out.push_back(&history_[i].membership);
  return out;
}

void Quorum::on_chosen(Slot slot, const Membership& m) {
  Slot from{slot.value + (early_ ? 1 : alpha_)};
  SYNOD_ASSERT(from > history_.back().from, "configuration chosen at {} out of order", slot.value);
  history_.push_back(make_held(from, m));
  refresh_members();
  SYNOD_ASSERT(live_ < history_.size(), "no configuration governs (live {} of {})", live_,
               history_.size());
}

void Quorum::prune(Slot commit) {
  Slot next = commit.next();
  std::size_t live = live_;
  while (live_ + 1 < history_.size() && history_[live_ + 1].from <= next) ++live_;
  // The configuration governing the slot after the commit index stays held.
  SYNOD_ASSERT(history_[live_].from <= next || live_ == 0, "pruned the configuration of slot {}",
               next.value);
  if (live_ == live) return;
  refresh_members();
  // Some configuration still governs, with voters to form its quorum.
  SYNOD_ASSERT(!voters_.empty(), "no voter held after pruning at commit {}", commit.value);
  recycle({});
}

void Quorum::snapshot_at(Slot slot, Membership* current, Membership* pending, Slot* pending_from) {
  Slot next = slot.next();
  std::size_t i = 0;
  while (i + 1 < history_.size() && history_[i + 1].from <= next) ++i;
  // The configuration recorded is the one governing the slot after the snapshot.
  SYNOD_ASSERT(history_[i].from <= next,
               "snapshot at {}: the oldest configuration held governs from {}", slot.value,
               history_[i].from.value);
  *current = history_[i].membership;
  *pending = Membership{};
  *pending_from = Slot{};
  // At most one later configuration was chosen at or below slot: a change
  // waits until the last one governs (one change at a time).
  if (i + 1 < history_.size() && history_[i + 1].from.value - alpha_ <= slot.value) {
    *pending = history_[i + 1].membership;
    *pending_from = history_[i + 1].from;
    // The pending configuration governs only after the snapshot's slot.
    SYNOD_ASSERT(*pending_from > next, "pending configuration from {} at snapshot {}",
                 pending_from->value, slot.value);
  }
  std::size_t drop = std::min(i, live_);
  history_.erase(history_.begin(), history_.begin() + static_cast<std::ptrdiff_t>(drop));
  live_ -= drop;  // the held ones stay: members unchanged
  SYNOD_ASSERT(!history_.empty() && live_ < history_.size(),
               "snapshot at {} dropped every held "
               "configuration",
               slot.value);
}

void Quorum::reset(const Membership& current, Slot from, const Membership& pending,
                   Slot pending_from) {
  history_.clear();
  live_ = 0;
  // Room for the new members first; those that stay keep their bits.
  recycle({&current, &pending});
  history_.push_back(make_held(from, current));
  if (!pending.empty()) history_.push_back(make_held(pending_from, pending));
  refresh_members();
  SYNOD_ASSERT(!voters_.empty(), "reset to a membership without voters");
}

void Quorum::refresh_members() {
  auto add = [](std::vector<NodeId>& to, NodeId id) {
    if (std::find(to.begin(), to.end(), id) == to.end()) to.push_back(id);
  };
  voters_.clear();
  for (std::size_t i = live_; i < history_.size(); ++i)
    for (NodeId v : history_[i].membership.voters) add(voters_, v);
  members_ = voters_;
  for (std::size_t i = live_; i < history_.size(); ++i)
    for (NodeId v : history_[i].membership.learners) add(members_, v);
  // Every member held is named: a message from it maps to its bit.
  for (NodeId v : members_)
    SYNOD_ASSERT(index_of(v).has_value(), "member {} holds no member bit", v.value);
}

bool Quorum::is_quorum(VoterMask mask, const Membership& m) const {
  std::size_t have = 0;
  for (NodeId v : m.voters)
    if (mask & bit(v)) ++have;
  std::size_t need = m.voters.size() / 2 + 1;
  if (too_small_ && need > 1) --need;
  return have >= need;
}

bool Quorum::is_quorum(VoterMask mask) const {
  for (std::size_t i = live_; i < history_.size(); ++i)
    if (static_cast<std::size_t>(std::popcount(mask & history_[i].voter_bits)) < history_[i].need)
      return false;
  return true;
}

}  // namespace synod::detail
