// The leader's queue of proposals not yet in a slot (Proposer::propose), cut
// into batches when slots open (Proposer::batch_pending).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>

#include "synod/types.h"
#include "synod/value.h"

namespace synod::detail {

// The commands' bytes go back to back into one buffer that keeps its
// capacity, so queueing allocates nothing in a steady state; a batch is cut
// with its count and bytes known, into a block of exactly its size (one
// allocation per batch, synod/value.h). Cutting at slot time, not on
// arrival, packs exactly as a queue of strings did: greedily, in order.
class PendingCommands {
 public:
  bool empty() const { return items_.empty(); }
  std::size_t size() const { return items_.size(); }
  std::uint64_t bytes() const { return bytes_.size() - head_; }

  // Precondition: command.size() fits a u32 (the caller bounds it by
  // Config::batch_bytes_max).
  void push(Ticket ticket, std::string_view command);

  // The next batch: the longest prefix of at most count_max commands and
  // bytes_max bytes, but at least one command; its tickets, in order, are
  // appended to `tickets`. Precondition: !empty().
  template <typename TicketSink>
  Value take_batch(std::size_t count_max, std::size_t bytes_max, TicketSink&& tickets) {
    std::size_t count = 0;
    std::size_t total = 0;
    for (const Item& it : items_) {
      if (count == count_max || (count > 0 && total + it.size > bytes_max)) break;
      ++count;
      total += it.size;
    }
    ValueBuilder block(ValueKind::commands);
    block.reserve(count, total);
    for (std::size_t i = 0; i < count; ++i) {
      const Item it = items_.front();
      items_.pop_front();
      block.append(std::string_view(bytes_).substr(head_, it.size));
      head_ += it.size;
      tickets(it.ticket);
    }
    reclaim();
    return block.finish();
  }

  template <typename F>
  void for_each_ticket(F&& f) const {
    for (const Item& it : items_) f(it.ticket);
  }

 private:
  struct Item {
    Ticket ticket;
    std::uint32_t size;
  };
  // Drops the bytes already cut: all of them once the queue is empty, else
  // when they are at least half the buffer (amortised O(1) per byte).
  void reclaim();

  std::string bytes_;     // the queued commands from head_ on, back to back
  std::size_t head_ = 0;  // bytes_ before this were cut into batches
  std::deque<Item> items_;
};

}  // namespace synod::detail
