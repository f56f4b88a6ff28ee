// Snapshot files: durable creation, verified loading, removal of the rest.
// The data is written from and read into one std::string, never copied:
// snapshots may be hundreds of MB.
#include "snapshot_store.h"

#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "segment_log.h"
#include "snapshot_format.h"

namespace synod::storage {
namespace {

IoStatus corrupt(const std::string& path, std::string_view why) {
  return IoStatus::failure(Status::corrupt,
                           fmt::format("corrupt snapshot: {}: {} (the log's last snapshot record "
                                       "names this file)",
                                       path, why));
}

// Reads exactly out.size() bytes at offset.
IoStatus read_exactly(File& file, const std::string& path, std::uint64_t offset,
                      std::span<std::byte> out) {
  std::size_t got = 0;
  if (IoStatus st = file.read_at(offset, out, &got); !st.ok()) return st;
  if (got != out.size())
    return IoStatus::failure(
        Status::storage_error,
        fmt::format("read {}: {} of {} bytes at offset {}", path, got, out.size(), offset));
  return {};
}

IoStatus write_file(FileSystem& fs, const std::string& dir, const std::string& temp,
                    const std::string& path, const Snapshot& snap, SnapshotRecord* out,
                    const SnapshotPacing* pacing, bool* abandoned) {
  const std::string& data = *snap.data;
  std::uint32_t crc = 0;
  std::vector<std::byte> header = encode_snapshot_header(snap.meta, data, &crc);
  std::unique_ptr<File> file;
  if (IoStatus st = fs.open(temp, OpenMode::create_new, &file); !st.ok()) return st;
  if (IoStatus st = write_fully(*file, 0, header, temp); !st.ok()) return st;
  std::span<const std::byte> bytes{reinterpret_cast<const std::byte*>(data.data()), data.size()};
  // The image goes by write_uncached: written once and read again only by
  // the next open, its pages in the cache cost a copy, their writeback and,
  // when the next snapshot replaces the file, the unlink's dropping of
  // them (docs/storage.md, "Snapshots behind the log").
  if (!pacing) {
    if (IoStatus st = file->write_uncached(header.size(), bytes); !st.ok()) return st;
  } else {
    const auto start = std::chrono::steady_clock::now();
    constexpr std::uint64_t chunk = SnapshotPacing::kChunkBytes;
    // Chunks end on multiples of `chunk` in the file, so that only the
    // first and last blocks of the image are partial ones.
    const std::uint64_t end = header.size() + bytes.size();
    for (std::uint64_t offset = header.size(); offset < end;) {
      const std::uint64_t at = offset - header.size();
      auto due = start + std::chrono::nanoseconds(static_cast<std::int64_t>(
                             static_cast<double>(pacing->spread.count()) * static_cast<double>(at) /
                             static_cast<double>(bytes.size())));
      if (pacing->wait && !pacing->wait(due)) {
        *abandoned = true;
        return {};
      }
      const std::uint64_t next = std::min(end, (offset / chunk + 1) * chunk);
      const std::uint64_t n = next - offset;
      if (IoStatus st = file->write_uncached(offset, bytes.subspan(at, n)); !st.ok()) return st;
      if (IoStatus st = file->start_writeback(offset, n); !st.ok()) return st;
      offset = next;
    }
  }
  if (IoStatus st = file->sync_data(); !st.ok()) return st;
  if (IoStatus st = fs.rename(temp, path); !st.ok()) return st;
  if (IoStatus st = fs.sync_dir(dir); !st.ok()) return st;
  out->file_bytes = header.size() + data.size();
  out->file_crc = crc;
  return {};
}

// Reads the file and checks it against the record; on any mismatch, corrupt.
IoStatus load_file(FileSystem& fs, const std::string& path, const SnapshotRecord& named,
                   Snapshot* out) {
  std::unique_ptr<File> file;
  if (IoStatus st = fs.open(path, OpenMode::read_write, &file); !st.ok()) return st;
  std::uint64_t size = 0;
  if (IoStatus st = file->size(&size); !st.ok()) return st;
  if (size != named.file_bytes)
    return corrupt(path, fmt::format("{} bytes where the record says {}", size, named.file_bytes));
  if (size < kSnapshotFixedBytes) return corrupt(path, "shorter than a snapshot header");
  std::vector<std::byte> header(kSnapshotFixedBytes);
  if (IoStatus st = read_exactly(*file, path, 0, header); !st.ok()) return st;
  SnapshotHeader h;
  std::string why;
  if (!decode_snapshot_fixed(header, size, &h, &why)) return corrupt(path, why);
  header.resize(h.header_bytes);
  std::span<std::byte> members = std::span(header).subspan(kSnapshotFixedBytes);
  if (IoStatus st = read_exactly(*file, path, kSnapshotFixedBytes, members); !st.ok()) return st;
  decode_snapshot_members(header, &h);
  // The one copy of the image: read straight into the string the Snapshot shares.
  auto data = std::make_shared<std::string>(static_cast<std::size_t>(h.data_bytes), '\0');
  std::span<std::byte> into{reinterpret_cast<std::byte*>(data->data()), data->size()};
  if (IoStatus st = read_exactly(*file, path, h.header_bytes, into); !st.ok()) return st;
  std::uint32_t crc = snapshot_crc(header, *data);
  if (crc != h.crc)
    return corrupt(path,
                   fmt::format("checksum mismatch (computed {:08x}, header {:08x})", crc, h.crc));
  if (crc != named.file_crc)
    return corrupt(
        path, fmt::format("checksum {:08x} where the record says {:08x}", crc, named.file_crc));
  if (h.meta.slot != named.slot || h.meta.ballot != named.ballot)
    return corrupt(
        path, fmt::format("slot {} where the record says {}", h.meta.slot.value, named.slot.value));
  *out = Snapshot{std::move(h.meta), std::move(data)};
  return {};
}

// The snapshot files and temporaries in dir other than `keep`.
IoStatus others(FileSystem& fs, const std::string& dir, const std::string& keep,
                std::vector<std::string>* names, bool* keep_found) {
  std::vector<std::string> all;
  if (IoStatus st = fs.list(dir, &all); !st.ok()) return st;
  *keep_found = false;
  for (const std::string& name : all) {
    std::string_view n = name;
    if (n.ends_with(kTempSuffix)) n.remove_suffix(kTempSuffix.size());
    Slot slot;
    if (!parse_snapshot_file_name(n, &slot)) continue;
    if (name == keep)
      *keep_found = true;
    else
      names->push_back(name);
  }
  return {};
}

}  // namespace

IoStatus write_snapshot_file(FileSystem& fs, const std::string& dir, const Snapshot& snap,
                             SnapshotRecord* out) {
  std::string path = join_path(dir, snapshot_file_name(snap.meta.slot));
  std::string temp = path + std::string(kTempSuffix);
  IoStatus st = write_file(fs, dir, temp, path, snap, out, nullptr, nullptr);
  if (!st.ok()) {
    // No record names either name yet, so removing is safe; on a full disk
    // it gives back the space the failed write took. Whichever exists goes.
    (void)fs.remove(temp);
    (void)fs.remove(path);
  }
  return st;
}

IoStatus write_snapshot_file_paced(FileSystem& fs, const std::string& dir, const Snapshot& snap,
                                   SnapshotRecord* out, const SnapshotPacing& pacing,
                                   bool* abandoned) {
  *abandoned = false;
  std::string path = join_path(dir, snapshot_file_name(snap.meta.slot));
  std::string temp = path + std::string(kTempSuffix);
  IoStatus st = write_file(fs, dir, temp, path, snap, out, &pacing, abandoned);
  if (!st.ok() || *abandoned) {
    // As write_snapshot_file: no record names either name.
    (void)fs.remove(temp);
    (void)fs.remove(path);
  }
  return st;
}

IoStatus recover_snapshot(FileSystem& fs, const std::string& dir,
                          const std::optional<SnapshotRecord>& named, Snapshot* out,
                          std::size_t* removed) {
  std::string keep = named ? snapshot_file_name(named->slot) : std::string();
  std::vector<std::string> names;
  bool found = false;
  if (IoStatus st = others(fs, dir, keep, &names, &found); !st.ok()) return st;
  if (named) {
    std::string path = join_path(dir, keep);
    if (!found) return corrupt(path, "missing");
    if (IoStatus st = load_file(fs, path, *named, out); !st.ok()) return st;
  }
  // Only once the named file proved sound: an operator facing corruption may
  // want the older files.
  for (const std::string& name : names) {
    if (IoStatus st = fs.remove(join_path(dir, name)); !st.ok()) return st;
  }
  *removed += names.size();
  if (!names.empty()) return fs.sync_dir(dir);
  return {};
}

}  // namespace synod::storage
