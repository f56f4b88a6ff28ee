#include "shard_txns.h"

#include "kv_command_codec.h"
#include "txn/txn_wire.h"

namespace synod::kv {
namespace {

// TxnId.seq: the term's ballot round, the leader's node id, a counter; so
// no two leaders (nor one leader in two terms) make the same id.
constexpr unsigned kSeqCounterBits = 24;
constexpr std::uint32_t kSeqCounterMax = (1u << kSeqCounterBits) - 1;

}  // namespace

std::string txn_entry_bytes(const txn::Entry& entry) {
  std::string out(1, static_cast<char>(kTxnEntryTag));
  out += txn::encode_entry(entry);
  return out;
}

bool is_txn_entry(std::string_view log_command) {
  return !log_command.empty() && static_cast<std::uint8_t>(log_command[0]) == kTxnEntryTag;
}

std::string txn_envelope_bytes(const txn::Envelope& envelope) {
  std::string out;
  put_varint(&out, envelope.to);
  out += txn::encode_message(envelope.msg);
  return out;
}

ShardTxns::ShardTxns(ShardTxnHost& host, std::vector<KvStore*> stores, ShardTxnsOptions options)
    : host_(host),
      opt_(options),
      stores_(stores),
      told_(options.shards),
      next_seq_(options.shards, 0),
      seq_ballot_(options.shards),
      generation_(options.shards, 0),
      restart_due_(options.shards, false) {
  // Every shard learns each coordinator's floor from its new leaders too.
  opt_.coordinator.all_shards.clear();
  for (std::size_t s = 0; s < opt_.shards; ++s)
    opt_.coordinator.all_shards.push_back(static_cast<txn::ShardId>(s));
  for (std::size_t s = 0; s < opt_.shards; ++s) {
    auto id = static_cast<txn::ShardId>(s);
    participants_.push_back(std::make_unique<txn::Participant>(id, *stores[s], opt_.participant));
    coordinators_.emplace_back(id, opt_.coordinator);
  }
}

void ShardTxns::sync(txn::ShardId shard) {
  std::optional<Ballot> now = host_.leading(shard);
  if (now == told_[shard]) return;
  if (told_[shard]) run(shard, coordinators_[shard].lose_leadership());
  told_[shard] = now;
  ++generation_[shard];
  if (!now) return;
  if (now != seq_ballot_[shard]) {
    seq_ballot_[shard] = now;
    next_seq_[shard] = 0;
  }
  participants_[shard]->become_leader();
  run(shard, coordinators_[shard].become_leader());
}

bool ShardTxns::start(txn::ShardId home, std::map<txn::ShardId, txn::ShardPart> parts, Done done) {
  if (home >= opt_.shards) return false;
  sync(home);
  // Ids must grow with the ballot (round, node): round and node must fit
  // their fields (server_options.cc refuses node ids above 255 with shards).
  if (!told_[home] || next_seq_[home] >= kSeqCounterMax || told_[home]->round > 0xffffffffu ||
      host_.self().value > 0xff)
    return false;
  txn::TxnPlan plan;
  plan.id.coordinator = home;
  plan.id.seq =
      (told_[home]->round << 32) | (host_.self().value << kSeqCounterBits) | ++next_seq_[home];
  plan.parts = std::move(parts);
  plan.parts[home];  // the coordinator's shard always takes part
  clients_.emplace(plan.id, std::move(done));
  ++stats_.started;
  run(home, coordinators_[home].start(std::move(plan)));
  return true;
}

Reply ShardTxns::apply(txn::ShardId shard, std::string_view log_command) {
  std::optional<txn::Entry> entry;
  if (is_txn_entry(log_command) && shard < opt_.shards)
    entry = txn::decode_entry(log_command.substr(1));
  if (!entry) {
    ++stats_.entries_malformed;
    return Reply::error("ERR malformed transaction entry");
  }
  txn::Effects fx = participants_[shard]->apply(*entry);
  fx.append(coordinators_[shard].apply(*entry));
  if (!fx.propose.empty() || !fx.send.empty() || !fx.done.empty()) {
    pending_.emplace_back(shard, std::move(fx));
    host_.wake();
  }
  return Reply::ok();
}

void ShardTxns::on_message(NodeId from, std::string_view payload) {
  std::uint64_t shard = 0;
  std::optional<txn::Message> msg;
  if (get_varint(&payload, &shard) && shard < opt_.shards) msg = txn::decode_message(payload);
  if (!msg) {
    ++stats_.messages_malformed;
    return;
  }
  (void)from;  // the peer link authenticated it; the protocol needs no sender
  ++stats_.messages_received;
  deliver(static_cast<txn::ShardId>(shard), *msg);
}

void ShardTxns::deliver(txn::ShardId shard, const txn::Message& msg) {
  sync(shard);
  if (!told_[shard]) {
    ++stats_.messages_not_leader;  // its sender resends to the leader it learns
    return;
  }
  txn::Participant& p = *participants_[shard];
  txn::Coordinator& c = coordinators_[shard];
  txn::Effects fx;
  if (const auto* m = std::get_if<txn::PrepareMsg>(&msg)) fx = p.on_prepare(*m);
  if (const auto* m = std::get_if<txn::DecisionMsg>(&msg)) fx = p.on_decision(*m);
  if (const auto* m = std::get_if<txn::VoteMsg>(&msg)) fx = c.on_vote(*m);
  if (const auto* m = std::get_if<txn::AckMsg>(&msg)) fx = c.on_ack(*m);
  if (const auto* m = std::get_if<txn::InquiryMsg>(&msg)) fx = c.on_inquiry(*m);
  if (const auto* m = std::get_if<txn::FloorMsg>(&msg)) fx = p.on_floor(*m);
  if (const auto* m = std::get_if<txn::FloorAckMsg>(&msg)) fx = c.on_floor_ack(*m);
  run(shard, std::move(fx));
}

void ShardTxns::tick() {
  for (txn::ShardId s = 0; s < opt_.shards; ++s) {
    if (restart_due_[s]) {
      restart_due_[s] = false;
      if (told_[s]) {
        ++stats_.drives_restarted;
        run(s, coordinators_[s].lose_leadership());
        told_[s].reset();
      }
    }
    sync(s);
    txn::Effects fx = participants_[s]->tick();
    fx.append(coordinators_[s].tick());
    run(s, std::move(fx));
  }
}

void ShardTxns::flush() {
  // Taken first: what runs now may queue more, for the next flush.
  std::vector<std::pair<txn::ShardId, txn::Effects>> effects;
  effects.swap(pending_);
  std::vector<txn::Envelope> local;
  local.swap(local_);
  for (auto& [shard, fx] : effects) {
    sync(shard);
    run(shard, std::move(fx));
  }
  for (const txn::Envelope& e : local) deliver(e.to, e.msg);
}

void ShardTxns::run(txn::ShardId shard, txn::Effects fx) {
  for (const txn::ClientOutcome& o : fx.done) deliver_outcome(o);
  if (fx.propose.empty() && fx.send.empty()) return;
  if (!told_[shard]) {
    // A follower applying an entry: the leader does what it asks.
    ++stats_.effects_dropped_follower;
    return;
  }
  for (const txn::Entry& e : fx.propose) {
    host_.propose(shard, txn_entry_bytes(e), [this, shard, g = generation_[shard]](bool chosen) {
      if (!chosen) proposal_failed(shard, g);
    });
  }
  for (txn::Envelope& e : fx.send) {
    if (e.to >= opt_.shards) {
      ++stats_.messages_malformed;  // a shard id from a message: never trusted
      continue;
    }
    NodeId to = host_.leader_of(e.to);
    if (to == host_.self()) {
      ++stats_.messages_local;
      local_.push_back(std::move(e));
      host_.wake();
    } else if (!to.valid()) {
      ++stats_.messages_no_leader;
    } else {
      ++stats_.messages_sent;
      host_.send(to, txn_envelope_bytes(e));
    }
  }
}

void ShardTxns::proposal_failed(txn::ShardId shard, std::uint64_t generation) {
  ++stats_.proposals_failed;
  // The machines believe their proposal is on its way and would not ask
  // again: this leader's drive starts over at the next tick (its clients
  // learn unknown), as a new leader's would. Once for all the proposals of
  // this drive, and not at once, so that a group refusing every proposal
  // costs one restart a tick, not one per refusal.
  if (generation == generation_[shard]) restart_due_[shard] = true;
}

void ShardTxns::deliver_outcome(const txn::ClientOutcome& outcome) {
  switch (outcome.kind) {
    case txn::ClientOutcome::Kind::committed:
      ++stats_.committed;
      break;
    case txn::ClientOutcome::Kind::aborted:
      ++stats_.aborted;
      break;
    case txn::ClientOutcome::Kind::unknown:
      ++stats_.unknown;
      break;
  }
  auto it = clients_.find(outcome.txn);
  if (it == clients_.end()) return;
  Done done = std::move(it->second);
  clients_.erase(it);
  done(outcome);
}

std::string ShardTxns::snapshot(txn::ShardId shard) const {
  std::string store = stores_[shard]->snapshot();
  const txn::Participant& p = *participants_[shard];
  const txn::Coordinator& c = coordinators_[shard];
  std::string participant = p.save(), coordinator = c.save();
  // Nothing recorded: the store's image alone, as before transactions.
  if (participant == txn::Participant(shard, *stores_[shard]).save() &&
      coordinator == txn::Coordinator(shard).save())
    return store;
  std::string out(kTxnSnapshotMagic);
  out += txn::encode_list({store, participant, coordinator});
  return out;
}

bool ShardTxns::restore(txn::ShardId shard, std::string_view image) {
  if (shard >= opt_.shards) return false;
  auto participant = std::make_unique<txn::Participant>(shard, *stores_[shard], opt_.participant);
  txn::Coordinator coordinator(shard, opt_.coordinator);
  std::string_view store = image;
  if (image.starts_with(kTxnSnapshotMagic)) {
    auto parts = txn::decode_list(image.substr(kTxnSnapshotMagic.size()));
    if (!parts || parts->size() != 3 || !participant->load((*parts)[1]) ||
        !coordinator.load((*parts)[2]))
      return false;
    store = (*parts)[0];
  }
  if (!stores_[shard]->restore(store)) return false;
  participants_[shard] = std::move(participant);
  coordinators_[shard] = std::move(coordinator);
  told_[shard].reset();  // the fresh machines learn this node's leadership again
  return true;
}

bool ShardTxns::locked(txn::ShardId shard, std::string_view key) const {
  return shard < opt_.shards && participants_[shard]->locked(key);
}

bool ShardTxns::any_locked(txn::ShardId shard) const {
  return shard < opt_.shards && participants_[shard]->locks() > 0;
}

std::size_t ShardTxns::prepared(txn::ShardId shard) const {
  return shard < opt_.shards ? participants_[shard]->prepared_count() : 0;
}

}  // namespace synod::kv
