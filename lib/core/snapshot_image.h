// The bytes a snapshot travels as between replicas: the host's data, then the
// metadata, then the metadata's length and a magic number. The trailer goes
// last so the receiver turns the assembled image into the snapshot's data by
// cutting it, without copying a large state machine image.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "synod/snapshot.h"

namespace synod::detail {

// The trailer appended to snap.data to form the image. It holds a digest of
// the data, so an image assembled from two senders' different bytes (a
// transfer resumed against a restarted sender) is refused, never restored.
std::string encode_trailer(const SnapshotMeta& meta, const std::string& data);

// The image's bytes [offset, offset + len) without building the image.
std::string image_bytes(const Snapshot& snap, const std::string& trailer, std::uint64_t offset,
                        std::uint64_t len);

// Takes the assembled image apart; nullopt when it is not a well-formed
// image (a peer's bug, or bytes mixed from two images: the digest differs).
std::optional<Snapshot> decode_image(std::string image);

}  // namespace synod::detail
