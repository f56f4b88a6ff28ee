#include "synod/membership.h"

#include <algorithm>

namespace synod {

namespace {

// Far above any cluster (a replica tracks at most 64 members) yet small, so a
// bad count cannot make the decoder allocate much.
constexpr std::uint64_t kMembersMax = 1024;
constexpr std::uint32_t kVersion = 1;

void put(std::string& out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

bool get(std::string_view& in, std::uint64_t* v, int bytes) {
  if (in.size() < static_cast<std::size_t>(bytes)) return false;
  *v = 0;
  for (int i = 0; i < bytes; ++i) *v |= std::uint64_t{static_cast<unsigned char>(in[i])} << (8 * i);
  in.remove_prefix(bytes);
  return true;
}

bool get_ids(std::string_view& in, std::vector<NodeId>* out) {
  std::uint64_t n;
  if (!get(in, &n, 4) || n > kMembersMax) return false;
  for (std::uint64_t i = 0; i < n; ++i) {
    std::uint64_t id;
    if (!get(in, &id, 8) || id == 0) return false;
    out->push_back(NodeId{id});
  }
  return true;
}

bool contains(const std::vector<NodeId>& ids, NodeId id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

}  // namespace

bool Membership::is_voter(NodeId id) const { return contains(voters, id); }
bool Membership::is_learner(NodeId id) const { return contains(learners, id); }

std::string_view to_string(MembershipOp op) {
  switch (op) {
    case MembershipOp::add_learner:
      return "add_learner";
    case MembershipOp::add_voter:
      return "add_voter";
    case MembershipOp::promote:
      return "promote";
    case MembershipOp::remove:
      return "remove";
  }
  return "?";
}

std::string encode_membership(const Membership& m) {
  std::string out;
  put(out, kVersion, 4);
  put(out, m.voters.size(), 4);
  for (NodeId v : m.voters) put(out, v.value, 8);
  put(out, m.learners.size(), 4);
  for (NodeId v : m.learners) put(out, v.value, 8);
  return out;
}

std::optional<Membership> decode_membership(std::string_view in) {
  std::uint64_t version;
  Membership m;
  if (!get(in, &version, 4) || version != kVersion || !get_ids(in, &m.voters) ||
      !get_ids(in, &m.learners) || !in.empty() || m.voters.empty())
    return std::nullopt;
  return m;
}

Value config_value(const Membership& m) {
  return Value::of_kind(ValueKind::config, {encode_membership(m)});
}

std::optional<Membership> membership_of(const Value& v) {
  if (!v.is_config() || v.commands().size() != 1) return std::nullopt;
  return decode_membership(v.commands().front());
}

}  // namespace synod
