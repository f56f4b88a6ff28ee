// Bytes for the commit protocol's log entries and messages (txn_messages.h),
// so that a host can put entries in a group's log and messages on a
// transport. Like the kv log (kv_command_codec.h) the format is fixed and
// decoding trusts nothing: every length is checked against the bytes left,
// every command must be one a transaction may hold (allowed_in_txn), and
// nesting of replies is bounded.
//
// Format (integers unsigned LEB128 varints, strings a varint length then
// bytes): a tag byte, then the fields in declaration order. TxnId: shard,
// seq. ShardPart: command count, each command's encode() bytes as a string;
// check count, each key then version. TxnPlan: id, part count, each shard
// then part. ForgetEntry: id count, each id, then the floor. Reply: kind byte, then str / zigzag
// num / element count and elements (depth at most 8).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "txn_messages.h"

namespace synod::kv::txn {

std::string encode_entry(const Entry& entry);
std::optional<Entry> decode_entry(std::string_view bytes, std::string_view* why = nullptr);

std::string encode_message(const Message& message);
std::optional<Message> decode_message(std::string_view bytes, std::string_view* why = nullptr);

// A list of byte strings (a count, then each as a length and its bytes):
// how a shard's snapshot holds its machines' entries and messages
// (Participant::save, Coordinator::save). Nullopt unless `bytes` is exactly
// one list; the views point into `bytes`.
// A shard list (ascending, distinct), for snapshots.
std::string encode_shards(const ShardList& shards);
std::optional<ShardList> decode_shards(std::string_view bytes);

std::string encode_list(const std::vector<std::string>& items);
std::optional<std::vector<std::string_view>> decode_list(std::string_view bytes);

}  // namespace synod::kv::txn
