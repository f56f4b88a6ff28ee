// Membership and quorum arithmetic. Members get a bit each (a VoterMask says
// who answered); configurations say whose bits count. A configuration chosen
// at slot i governs slots from i + alpha (docs/protocol.md, "Membership"), so the
// configurations held are the one governing the slot after the commit index
// and any chosen later, which govern from further on.
#pragma once

#include <bit>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "planted_bugs.h"
#include "synod/config.h"
#include "synod/membership.h"
#include "synod/types.h"

namespace synod::detail {

using VoterMask = std::uint64_t;

// Member bits one replica can hand out at once (a VoterMask's width).
inline constexpr std::size_t kMemberIdCapacity = 64;
// Kept free by the leader's check (Quorum::fits) for an id no configuration
// held names but this replica still needs: its own, once removed.
inline constexpr std::size_t kSpareMemberIds = 1;

class Quorum {
 public:
  Quorum(const Config& config, PlantedBug bug);

  // ---- member bits --------------------------------------------------------
  // Bits are handed out as configurations name members. A bit is freed once
  // no configuration held (nor a pinned one, nor this replica) names its id,
  // and may then name another id: the on_freed callback first clears it from
  // every mask and per-peer state (so no answer counts for the next holder).
  // At most kMemberIdCapacity ids at once; a restart renumbers.
  std::optional<unsigned> index_of(NodeId id) const;
  VoterMask bit(NodeId id) const;
  // Named (as voter or learner) by a configuration held: its messages count.
  bool is_member(NodeId id) const;
  // A voter of a configuration held.
  bool is_voter(NodeId id) const;
  // A configuration a candidate must hear from (reported in a promise): its
  // members keep their bits until unpin(). false when some found no free bit
  // (they count for nothing, so that configuration's quorum waits: safe).
  bool pin(const Membership& m);
  void unpin();
  // Whether every replica that learns m after the configurations held has a
  // bit for each of its members: the leader refuses a change otherwise.
  bool fits(const Membership& m) const;
  // Called with the bits freed, before any is handed out again.
  void set_on_freed(std::function<void(VoterMask)> f) { on_freed_ = std::move(f); }
  // Every node named and not freed since (members, former members, members
  // of reported configurations): where a replica behind may find chosen
  // values. NodeId{} marks a free bit.
  const std::vector<NodeId>& named() const { return bits_; }

  // ---- configurations -----------------------------------------------------
  // The configuration governing slot s. Precondition: s is after the
  // commit index the held configurations were pruned at, and every
  // configuration chosen at or below s - alpha was reported (on_chosen).
  const Membership& at(Slot s) const { return held_at(s).membership; }
  // The last configuration chosen, and the first slot it governs.
  const Membership& latest() const { return history_.back().membership; }
  Slot latest_from() const { return history_.back().from; }
  // Every configuration held, oldest first.
  std::vector<const Membership*> held() const;
  std::uint64_t alpha() const { return alpha_; }

  // A configuration chosen at `slot` (in slot order).
  void on_chosen(Slot slot, const Membership& m);
  // Configurations that govern no slot after `commit` are no longer held.
  void prune(Slot commit);
  // What a snapshot of `slot` records: the configuration governing slot + 1,
  // and one chosen at or below slot that governs only later (or empty).
  // Forgets what governs only slots at or below `slot`.
  void snapshot_at(Slot slot, Membership* current, Membership* pending, Slot* pending_from);
  // A snapshot replaces everything: `current` governs from `from`, then
  // `pending` (if not empty) from pending_from.
  void reset(const Membership& current, Slot from, const Membership& pending, Slot pending_from);

  // Voters and members of any configuration held, this replica included.
  // Kept up to date as configurations come and go: accepts and heartbeats
  // read them on every send.
  const std::vector<NodeId>& voters() const { return voters_; }
  const std::vector<NodeId>& members() const { return members_; }

  // ---- counting -----------------------------------------------------------
  bool is_quorum(VoterMask mask, const Membership& m) const;
  // A majority of the voters governing slot s (phase 2). Hot: every commit.
  bool is_quorum_at(Slot s, VoterMask mask) const {
    const Held& h = held_at(s);
    return static_cast<std::size_t>(std::popcount(mask & h.voter_bits)) >= h.need;
  }
  // A majority of every configuration held: what a leader needs to know it
  // still leads (check-quorum, ReadIndex) and a follower to campaign.
  bool is_quorum(VoterMask mask) const;

 private:
  struct Held {
    Slot from;
    Membership membership;
    VoterMask voter_bits = 0;
    std::size_t need = 0;  // a majority of its voters
  };
  Held make_held(Slot from, const Membership& m);
  bool name(const Membership& m);
  bool in_use(NodeId id, const std::vector<const Membership*>& keep) const;
  // Frees the bits of ids no held or pinned configuration, nor keep, names.
  void recycle(const std::vector<const Membership*>& keep);
  const Held& held_at(Slot s) const {
    for (std::size_t i = history_.size(); i-- > live_;)
      if (history_[i].from <= s) return history_[i];
    return history_[live_];
  }

  std::uint64_t alpha_;
  bool too_small_;  // the quorum_too_small bug planted for the gate
  bool early_;      // the config_before_alpha bug planted for the gate
  NodeId self_;
  std::vector<NodeId> bits_;
  std::vector<NodeId> pins_;
  std::function<void(VoterMask)> on_freed_;
  // Invariant: ascending by from, never empty. history_[live_..] are the
  // configurations held (governing the slot after the commit index or
  // later); the older ones govern slots back to the snapshot's, for the
  // next snapshot's metadata.
  std::vector<Held> history_;
  std::size_t live_ = 0;
  // Invariant: the voters, then the learners, of history_[live_..], once each.
  std::vector<NodeId> voters_;
  std::vector<NodeId> members_;
  void refresh_members();
};

}  // namespace synod::detail
