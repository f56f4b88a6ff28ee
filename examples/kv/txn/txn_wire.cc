#include "txn_wire.h"

#include "kv_command_codec.h"

namespace synod::kv::txn {
namespace {

enum Tag : std::uint8_t {
  kPrepareEntry = 1,
  kCommitEntry = 2,
  kAbortEntry = 3,
  kBeginEntry = 4,
  kDecideEntry = 5,
  kForgetEntry = 6,
  kFloorEntry = 7,
  kPrepareMsg = 16,
  kVoteMsg = 17,
  kDecisionMsg = 18,
  kAckMsg = 19,
  kInquiryMsg = 20,
  kFloorMsg = 21,
  kFloorAckMsg = 22,
};
constexpr int kReplyDepthMax = 8;
constexpr std::uint8_t kAbortReasonMax = static_cast<std::uint8_t>(AbortReason::unknown_txn);

// ---- Writing --------------------------------------------------------------
void put_str(std::string* out, std::string_view s) {
  put_varint(out, s.size());
  out->append(s);
}
void put_id(std::string* out, const TxnId& t) {
  put_varint(out, t.coordinator);
  put_varint(out, t.seq);
}
void put_part(std::string* out, const ShardPart& p) {
  put_varint(out, p.commands.size());
  for (const Request& r : p.commands) put_str(out, encode(r));
  put_varint(out, p.checks.size());
  for (const WatchedKey& w : p.checks) {
    put_str(out, w.key);
    put_varint(out, w.version);
  }
}
void put_shards(std::string* out, const ShardList& shards) {
  put_varint(out, shards.size());
  for (ShardId s : shards) put_varint(out, s);
}
void put_reply(std::string* out, const Reply& r) {
  out->push_back(static_cast<char>(r.kind));
  switch (r.kind) {
    case Reply::Kind::simple:
    case Reply::Kind::error:
    case Reply::Kind::bulk:
      return put_str(out, r.str);
    case Reply::Kind::integer: {
      auto u = static_cast<std::uint64_t>(r.num);
      return put_varint(out, (u << 1) ^ (r.num < 0 ? ~std::uint64_t{0} : 0));
    }
    case Reply::Kind::array:
      put_varint(out, r.elements.size());
      for (const Reply& e : r.elements) put_reply(out, e);
      return;
    case Reply::Kind::null:
    case Reply::Kind::null_array:
      return;
  }
}

// ---- Reading --------------------------------------------------------------
struct Reader {
  std::string_view in;
  std::string_view why;
  bool fail(std::string_view reason) {
    if (why.empty()) why = reason;
    return false;
  }
  bool u64(std::uint64_t* v) { return get_varint(&in, v) || fail("bad varint"); }
  bool u32(std::uint32_t* v) {
    std::uint64_t x = 0;
    if (!u64(&x)) return false;
    if (x > 0xffffffffu) return fail("shard id out of range");
    *v = static_cast<std::uint32_t>(x);
    return true;
  }
  bool str(std::string_view* s) {
    std::uint64_t n = 0;
    if (!u64(&n)) return false;
    if (n > in.size()) return fail("string past the end");
    *s = in.substr(0, n);
    in.remove_prefix(n);
    return true;
  }
  bool byte(std::uint8_t* b) {
    if (in.empty()) return fail("truncated");
    *b = static_cast<std::uint8_t>(in[0]);
    in.remove_prefix(1);
    return true;
  }
  bool flag(bool* b) {
    std::uint8_t x = 0;
    if (!byte(&x)) return false;
    if (x > 1) return fail("bad flag");
    *b = x == 1;
    return true;
  }
  // A count of items each at least `min_bytes` long: bounded by what is left.
  bool count(std::uint64_t* n, std::size_t min_bytes) {
    if (!u64(n)) return false;
    if (*n > in.size() / min_bytes) return fail("count past the end");
    return true;
  }
  bool id(TxnId* t) { return u32(&t->coordinator) && u64(&t->seq); }
  // Ascending and distinct, as shards_of() makes them.
  bool shards(ShardList* out) {
    std::uint64_t n = 0;
    if (!count(&n, 1)) return false;
    for (std::uint64_t i = 0; i < n; ++i) {
      ShardId s = 0;
      if (!u32(&s)) return false;
      if (!out->empty() && s <= out->back()) return fail("shard list not ascending");
      out->push_back(s);
    }
    return true;
  }
  bool reason(AbortReason* r) {
    std::uint8_t x = 0;
    if (!byte(&x)) return false;
    if (x > kAbortReasonMax) return fail("unknown abort reason");
    *r = static_cast<AbortReason>(x);
    return true;
  }
  bool part(ShardPart* p) {
    std::uint64_t n = 0;
    if (!count(&n, 1)) return false;
    for (std::uint64_t i = 0; i < n; ++i) {
      std::string_view bytes;
      if (!str(&bytes)) return false;
      std::optional<Request> r = decode(bytes);
      if (!r) return fail("malformed command");
      if (!allowed_in_txn(r->op)) return fail("command not allowed in a transaction");
      p->commands.push_back(std::move(*r));
    }
    if (!count(&n, 2)) return false;
    for (std::uint64_t i = 0; i < n; ++i) {
      std::string_view key;
      WatchedKey w;
      if (!str(&key) || !u64(&w.version)) return false;
      w.key = std::string(key);
      p->checks.push_back(std::move(w));
    }
    return true;
  }
  bool plan(TxnPlan* p) {
    std::uint64_t n = 0;
    if (!id(&p->id) || !count(&n, 3)) return false;
    for (std::uint64_t i = 0; i < n; ++i) {
      ShardId s = 0;
      if (!u32(&s)) return false;
      if (p->parts.contains(s)) return fail("a shard twice in a plan");
      if (!part(&p->parts[s])) return false;
    }
    return true;
  }
  bool reply(Reply* r, int depth) {
    std::uint8_t k = 0;
    if (!byte(&k)) return false;
    if (k > static_cast<std::uint8_t>(Reply::Kind::null_array)) return fail("unknown reply kind");
    r->kind = static_cast<Reply::Kind>(k);
    switch (r->kind) {
      case Reply::Kind::simple:
      case Reply::Kind::error:
      case Reply::Kind::bulk: {
        std::string_view s;
        if (!str(&s)) return false;
        r->str = std::string(s);
        return true;
      }
      case Reply::Kind::integer: {
        std::uint64_t z = 0;
        if (!u64(&z)) return false;
        r->num = static_cast<std::int64_t>((z >> 1) ^ (~(z & 1) + 1));
        return true;
      }
      case Reply::Kind::array: {
        if (depth >= kReplyDepthMax) return fail("replies nested too deep");
        std::uint64_t n = 0;
        if (!count(&n, 1)) return false;
        r->elements.resize(n);
        for (Reply& e : r->elements)
          if (!reply(&e, depth + 1)) return false;
        return true;
      }
      case Reply::Kind::null:
      case Reply::Kind::null_array:
        return true;
    }
    return fail("unknown reply kind");
  }
  bool end() { return in.empty() || fail("trailing bytes"); }
};

template <typename T>
std::optional<T> finish(Reader& r, bool ok, T value, std::string_view* why) {
  if (ok && r.end()) return value;
  if (why != nullptr) *why = r.why;
  return std::nullopt;
}

}  // namespace

std::string encode_entry(const Entry& entry) {
  std::string out;
  std::visit(
      [&](const auto& e) {
        using E = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<E, PrepareEntry>) {
          out.push_back(static_cast<char>(kPrepareEntry));
          put_id(&out, e.txn);
          put_part(&out, e.part);
          put_shards(&out, e.shards);
        } else if constexpr (std::is_same_v<E, CommitEntry>) {
          out.push_back(static_cast<char>(kCommitEntry));
          put_id(&out, e.txn);
        } else if constexpr (std::is_same_v<E, AbortEntry>) {
          out.push_back(static_cast<char>(kAbortEntry));
          put_id(&out, e.txn);
        } else if constexpr (std::is_same_v<E, BeginEntry>) {
          out.push_back(static_cast<char>(kBeginEntry));
          put_id(&out, e.plan.id);
          put_varint(&out, e.plan.parts.size());
          for (const auto& [shard, part] : e.plan.parts) {
            put_varint(&out, shard);
            put_part(&out, part);
          }
        } else if constexpr (std::is_same_v<E, ForgetEntry>) {
          out.push_back(static_cast<char>(kForgetEntry));
          put_varint(&out, e.txns.size());
          for (const TxnId& t : e.txns) put_id(&out, t);
          put_varint(&out, e.floor);
        } else if constexpr (std::is_same_v<E, FloorEntry>) {
          out.push_back(static_cast<char>(kFloorEntry));
          put_varint(&out, e.coordinator);
          put_varint(&out, e.floor);
        } else {
          static_assert(std::is_same_v<E, DecideEntry>);
          out.push_back(static_cast<char>(kDecideEntry));
          put_id(&out, e.txn);
          out.push_back(static_cast<char>(e.commit ? 1 : 0));
          out.push_back(static_cast<char>(e.reason));
          put_shards(&out, e.shards);
        }
      },
      entry);
  return out;
}

std::optional<Entry> decode_entry(std::string_view bytes, std::string_view* why) {
  Reader r{bytes, {}};
  std::uint8_t tag = 0;
  if (!r.byte(&tag)) return finish<Entry>(r, false, {}, why);
  switch (tag) {
    case kPrepareEntry: {
      PrepareEntry e;
      bool ok = r.id(&e.txn) && r.part(&e.part) && r.shards(&e.shards);
      return finish<Entry>(r, ok, std::move(e), why);
    }
    case kCommitEntry: {
      CommitEntry e;
      bool ok = r.id(&e.txn);  // before `e` is copied into the call
      return finish<Entry>(r, ok, e, why);
    }
    case kAbortEntry: {
      AbortEntry e;
      bool ok = r.id(&e.txn);
      return finish<Entry>(r, ok, e, why);
    }
    case kBeginEntry: {
      BeginEntry e;
      bool ok = r.plan(&e.plan);
      return finish<Entry>(r, ok, std::move(e), why);
    }
    case kDecideEntry: {
      DecideEntry e;
      bool ok = r.id(&e.txn) && r.flag(&e.commit) && r.reason(&e.reason) && r.shards(&e.shards);
      return finish<Entry>(r, ok, std::move(e), why);
    }
    case kForgetEntry: {
      ForgetEntry e;
      std::uint64_t n = 0;
      bool ok = r.count(&n, 2);
      for (std::uint64_t i = 0; ok && i < n; ++i) {
        TxnId t;
        ok = r.id(&t);
        if (ok && !e.txns.empty() && !(e.txns.back() < t)) ok = r.fail("forget list not ascending");
        e.txns.push_back(t);
      }
      ok = ok && r.u64(&e.floor);
      return finish<Entry>(r, ok, std::move(e), why);
    }
    case kFloorEntry: {
      FloorEntry e;
      bool ok = r.u32(&e.coordinator) && r.u64(&e.floor);
      return finish<Entry>(r, ok, e, why);
    }
    default:
      r.fail("unknown entry tag");
      return finish<Entry>(r, false, {}, why);
  }
}

std::string encode_message(const Message& message) {
  std::string out;
  std::visit(
      [&](const auto& m) {
        using M = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<M, PrepareMsg>) {
          out.push_back(static_cast<char>(kPrepareMsg));
          put_id(&out, m.txn);
          put_part(&out, m.part);
          put_shards(&out, m.shards);
        } else if constexpr (std::is_same_v<M, VoteMsg>) {
          out.push_back(static_cast<char>(kVoteMsg));
          put_id(&out, m.txn);
          put_varint(&out, m.from);
          out.push_back(static_cast<char>(m.yes ? 1 : 0));
          out.push_back(static_cast<char>(m.reason));
          put_varint(&out, m.results.size());
          for (const Reply& reply : m.results) put_reply(&out, reply);
        } else if constexpr (std::is_same_v<M, DecisionMsg>) {
          out.push_back(static_cast<char>(kDecisionMsg));
          put_id(&out, m.txn);
          out.push_back(static_cast<char>(m.commit ? 1 : 0));
        } else if constexpr (std::is_same_v<M, AckMsg>) {
          out.push_back(static_cast<char>(kAckMsg));
          put_id(&out, m.txn);
          put_varint(&out, m.from);
          out.push_back(static_cast<char>(m.committed ? 1 : 0));
          put_varint(&out, m.results.size());
          for (const Reply& reply : m.results) put_reply(&out, reply);
        } else if constexpr (std::is_same_v<M, FloorMsg>) {
          out.push_back(static_cast<char>(kFloorMsg));
          put_varint(&out, m.coordinator);
          put_varint(&out, m.floor);
        } else if constexpr (std::is_same_v<M, FloorAckMsg>) {
          out.push_back(static_cast<char>(kFloorAckMsg));
          put_varint(&out, m.from);
          put_varint(&out, m.floor);
        } else {
          static_assert(std::is_same_v<M, InquiryMsg>);
          out.push_back(static_cast<char>(kInquiryMsg));
          put_id(&out, m.txn);
          put_varint(&out, m.from);
          put_shards(&out, m.shards);
        }
      },
      message);
  return out;
}

std::optional<Message> decode_message(std::string_view bytes, std::string_view* why) {
  Reader r{bytes, {}};
  std::uint8_t tag = 0;
  if (!r.byte(&tag)) return finish<Message>(r, false, {}, why);
  switch (tag) {
    case kPrepareMsg: {
      PrepareMsg m;
      bool ok = r.id(&m.txn) && r.part(&m.part) && r.shards(&m.shards);
      return finish<Message>(r, ok, std::move(m), why);
    }
    case kVoteMsg: {
      VoteMsg m;
      std::uint64_t n = 0;
      bool ok =
          r.id(&m.txn) && r.u32(&m.from) && r.flag(&m.yes) && r.reason(&m.reason) && r.count(&n, 1);
      if (ok) {
        m.results.resize(n);
        for (Reply& reply : m.results)
          if (!(ok = r.reply(&reply, 0))) break;
      }
      return finish<Message>(r, ok, std::move(m), why);
    }
    case kDecisionMsg: {
      DecisionMsg m;
      bool ok = r.id(&m.txn) && r.flag(&m.commit);
      return finish<Message>(r, ok, m, why);
    }
    case kAckMsg: {
      AckMsg m;
      std::uint64_t n = 0;
      bool ok = r.id(&m.txn) && r.u32(&m.from) && r.flag(&m.committed) && r.count(&n, 1);
      if (ok) {
        m.results.resize(n);
        for (Reply& reply : m.results)
          if (!(ok = r.reply(&reply, 0))) break;
      }
      return finish<Message>(r, ok, std::move(m), why);
    }
    case kInquiryMsg: {
      InquiryMsg m;
      bool ok = r.id(&m.txn) && r.u32(&m.from) && r.shards(&m.shards);
      return finish<Message>(r, ok, std::move(m), why);
    }
    case kFloorMsg: {
      FloorMsg m;
      bool ok = r.u32(&m.coordinator) && r.u64(&m.floor);
      return finish<Message>(r, ok, m, why);
    }
    case kFloorAckMsg: {
      FloorAckMsg m;
      bool ok = r.u32(&m.from) && r.u64(&m.floor);
      return finish<Message>(r, ok, m, why);
    }
    default:
      r.fail("unknown message tag");
      return finish<Message>(r, false, {}, why);
  }
}

std::string encode_shards(const ShardList& shards) {
  std::string out;
  put_shards(&out, shards);
  return out;
}

std::optional<ShardList> decode_shards(std::string_view bytes) {
  Reader r{bytes, {}};
  ShardList shards;
  bool ok = r.shards(&shards);
  return finish<ShardList>(r, ok, std::move(shards), nullptr);
}

std::string encode_list(const std::vector<std::string>& items) {
  std::string out;
  put_varint(&out, items.size());
  for (const std::string& item : items) put_str(&out, item);
  return out;
}

std::optional<std::vector<std::string_view>> decode_list(std::string_view bytes) {
  std::uint64_t n = 0;
  if (!get_varint(&bytes, &n) || n > bytes.size()) return std::nullopt;  // >= 1 byte each
  std::vector<std::string_view> items;
  items.reserve(n);
  for (std::uint64_t i = 0; i < n; ++i) {
    std::uint64_t len = 0;
    if (!get_varint(&bytes, &len) || len > bytes.size()) return std::nullopt;
    items.push_back(bytes.substr(0, len));
    bytes.remove_prefix(len);
  }
  if (!bytes.empty()) return std::nullopt;
  return items;
}

}  // namespace synod::kv::txn
