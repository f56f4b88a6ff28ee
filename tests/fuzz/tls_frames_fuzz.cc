// libFuzzer target for the TLS-wrapped frame path of the TCP transport
// (transports/uv: TlsSession, then tcp_wire::next_frame). Also linked into
// the 'tls frames corpus replay' test, so every compiler runs it over the
// seeds. Certificates come from a throwaway PKI made once per process.
//
// Input: one mode byte, then a payload.
//   mode bit 0 clear: the payload is ciphertext from a stranger, fed to an
//     accepting session in chunks of (mode >> 4) + 1 bytes. It never gets
//     past the handshake (it has no certificate), so no plaintext may come
//     out, and the session must fail or wait, never crash.
//   mode bit 0 set: two sessions complete a real handshake in memory; the
//     payload is sent through it as plaintext and the receiver splits what
//     comes out into frames (limit 256 bytes when mode bit 2 is set).
//   mode bit 1 set (with bit 0): one byte of the ciphertext is flipped
//     first; the receiver must hand out nothing from the damaged record on
//     (it fails, or waits for more when the flip lengthened a record).
//
// Properties (a violation traps): what the receiver decrypts is exactly a
// prefix of what was sent (all of it when untampered); frames are found in
// order, each inside the bytes received, and an oversized prefix is
// reported, never read past.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "tcp_frames.h"
#include "test_pki.h"
#include "tls_context.h"
#include "tls_session.h"

namespace {

using namespace synod;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

struct Contexts {
  std::unique_ptr<TlsContext> node1, node2;
  Contexts() {
    testing::TestPki pki("fuzz CA");
    std::string why;
    node1 = TlsContext::create(pki.node(7, 1), &why);
    node2 = TlsContext::create(pki.node(7, 2), &why);
    check(node1 && node2);
  }
};

const Contexts& contexts() {
  static const Contexts c;
  return c;
}

// Splits plaintext into frames the way the transport does.
void scan_frames(std::span<const std::uint8_t> bytes, std::uint32_t limit) {
  std::size_t at = 0;
  for (;;) {
    std::span<const std::uint8_t> frame;
    std::size_t used = 0;
    auto scan = tcp_wire::next_frame(bytes.subspan(at), limit, &frame, &used);
    if (scan == tcp_wire::FrameScan::need_more) {
      // Only a partial prefix or a partial frame is left.
      std::size_t left = bytes.size() - at;
      check(left < 4 || left - 4 < (bytes[at] | bytes[at + 1] << 8 | bytes[at + 2] << 16 |
                                    static_cast<std::size_t>(bytes[at + 3]) << 24));
      return;
    }
    if (scan == tcp_wire::FrameScan::oversized) {
      check(used > limit);
      return;
    }
    check(frame.size() <= limit && used == frame.size() + 4 && at + used <= bytes.size());
    check(frame.data() == bytes.data() + at + 4);
    at += used;
  }
}

void stranger(std::span<const std::uint8_t> payload, std::size_t chunk) {
  TlsSession server(contexts().node2->get(), TlsSession::Role::server);
  std::vector<std::uint8_t> plain, out;
  for (std::size_t at = 0; at < payload.size() && !server.failed(); at += chunk) {
    std::size_t n = std::min(chunk, payload.size() - at);
    server.feed(payload.data() + at, n, &plain);
    server.drain(&out);
  }
  check(plain.empty());
  check(!server.established());
}

void through_tls(std::span<const std::uint8_t> payload, std::uint8_t mode) {
  TlsSession client(contexts().node1->get(), TlsSession::Role::client);
  TlsSession server(contexts().node2->get(), TlsSession::Role::server);
  std::vector<std::uint8_t> wire, plain;
  // The handshake: at most a few flights each way.
  for (int i = 0; i < 6 && !(client.established() && server.established()); ++i) {
    wire.clear();
    client.drain(&wire);
    check(server.feed(wire.data(), wire.size(), &plain));
    wire.clear();
    server.drain(&wire);
    check(client.feed(wire.data(), wire.size(), &plain));
  }
  check(client.established() && server.established() && plain.empty());
  check(client.write(payload));
  wire.clear();
  client.drain(&wire);
  bool tamper = (mode & 2) != 0 && !wire.empty();
  if (tamper) {
    std::size_t at = payload.empty() ? 0 : payload[0] % wire.size();
    wire[at] ^= 0x5a;
  }
  std::size_t chunk = (mode >> 4) + 1u;
  bool ok = true;
  for (std::size_t at = 0; at < wire.size() && ok; at += chunk)
    ok = server.feed(wire.data() + at, std::min(chunk, wire.size() - at), &plain);
  check(plain.size() <= payload.size());
  check(std::equal(plain.begin(), plain.end(), payload.begin()));
  if (tamper)  // fails, or waits when the flip lengthened a record header
    check(plain.size() < payload.size());
  else
    check(ok && plain.size() == payload.size());
  scan_frames(plain, (mode & 4) ? 256 : 1u << 20);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t mode = data[0];
  const std::span<const std::uint8_t> payload(data + 1, size - 1);
  if ((mode & 1) == 0)
    stranger(payload, (mode >> 4) + 1u);
  else
    through_tls(payload, mode);
  return 0;
}
