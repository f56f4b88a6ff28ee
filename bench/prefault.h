// Heap pre-faulting. Without compaction (--snapshot-every 0) the core keeps
// every chosen value, so a run allocates (value + ~48) bytes per command and
// never frees them: every one of those bytes is memory the kernel hands out,
// and zeroes, for the first time. On a virtual machine that gives fresh
// pages back to its host, that first touch costs more than synod (measured
// here: clear_page_erms at 64-91 % of the CPU). Compaction recycles the
// memory once the log reaches its steady size; pre-faulting removes the
// first touch before that too: the heap is grown and touched before the
// run, then handed back to malloc, which serves the run from it without a
// page fault.
#pragma once

#include <cstdint>

namespace synod::bench {

// Bytes worth pre-faulting for a run of `ops` commands of `value_bytes`,
// capped at half the memory available now.
std::uint64_t prefault_bytes_for(std::uint64_t ops, std::uint64_t value_bytes);

// Tells malloc to keep what it has: blocks below 32 MiB from the heap (not
// mmap) and never a trim of the heap's top. Without it glibc hands the top
// back with brk after a round's batch is freed and faults it in again for
// the next: a brk shrink (with a TLB shootdown on every core) and a page
// fault per 4 KiB, every round trip (measured with --groups 1: 16 % of the
// leader's CPU in the shrink alone).
void keep_heap();

// Grows malloc's heap by `bytes`, touches every page, and frees it into the
// heap's top, telling malloc never to give it back (M_TRIM_THRESHOLD).
void prefault_heap(std::uint64_t bytes);

}  // namespace synod::bench
