// The coordinator's replicated state as bytes, for the shard's snapshot
// (Coordinator::save and load, coordinator.h).
#include "coordinator.h"
#include "txn_wire.h"

namespace synod::kv::txn {

std::string Coordinator::save() const {
  // Per record its Begin (a plan with no parts for an inquiry's abort of a
  // txn never begun) and its Decide, or an empty string while undecided.
  std::vector<std::string> items;
  for (const auto& [t, r] : records_) {
    TxnPlan plan = r.plan;
    plan.id = t;
    items.push_back(encode_entry(BeginEntry{std::move(plan)}));
    items.push_back(r.decided ? encode_entry(DecideEntry{t, r.commit, r.reason, r.shards})
                              : std::string());
  }
  // Three items (an old image's list of pairs is even): the pairs, the
  // floor with the forgotten ids above it (as a ForgetEntry), and the
  // shards that must learn the floor.
  ForgetEntry forgotten{std::vector<TxnId>(forgotten_above_.begin(), forgotten_above_.end()),
                        floor_};
  return encode_list({encode_list(items), encode_entry(forgotten),
                      encode_shards(ShardList(floor_shards_.begin(), floor_shards_.end()))});
}

bool Coordinator::load(std::string_view bytes) {
  auto items = decode_list(bytes);
  if (!items) return false;
  std::uint64_t floor = 0;
  std::set<ShardId> floor_shards;
  std::set<TxnId> forgotten_above;
  if (items->size() == 3) {
    std::optional<Entry> f = decode_entry((*items)[1]);
    const auto* fe = f ? std::get_if<ForgetEntry>(&*f) : nullptr;
    std::optional<ShardList> shards = decode_shards((*items)[2]);
    if (fe == nullptr || !shards) return false;
    floor = fe->floor;
    forgotten_above.insert(fe->txns.begin(), fe->txns.end());
    floor_shards.insert(shards->begin(), shards->end());
    items = decode_list((*items)[0]);
    if (!items) return false;
  }
  if (items->size() % 2 != 0) return false;
  std::map<TxnId, Record> records;
  for (std::size_t i = 0; i < items->size(); i += 2) {
    std::optional<Entry> b = decode_entry((*items)[i]);
    const auto* begin = b ? std::get_if<BeginEntry>(&*b) : nullptr;
    if (begin == nullptr) return false;
    Record& r = records[begin->plan.id];
    r.plan = begin->plan;
    r.shards = shards_of(r.plan);
    if ((*items)[i + 1].empty()) continue;
    std::optional<Entry> d = decode_entry((*items)[i + 1]);
    const auto* decide = d ? std::get_if<DecideEntry>(&*d) : nullptr;
    if (decide == nullptr || !(decide->txn == begin->plan.id)) return false;
    r.decided = true;
    r.commit = decide->commit;
    r.reason = decide->reason;
    if (r.plan.parts.empty()) r.shards = decide->shards;
  }
  records_ = std::move(records);
  floor_ = floor;
  floor_shards_ = std::move(floor_shards);
  forgotten_above_ = std::move(forgotten_above);
  drives_.clear();
  pending_.clear();
  floor_owed_.clear();
  forget_in_flight_ = false;
  leader_ = false;
  return true;
}

}  // namespace synod::kv::txn
