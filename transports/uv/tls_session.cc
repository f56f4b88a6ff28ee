#include "tls_session.h"

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <climits>
#include <cstring>

#include "tls_context.h"

namespace synod {

namespace {
constexpr std::size_t kReadChunk = 16 * 1024;  // one TLS record's plaintext at most

long bio_ctrl(BIO*, int cmd, long, void*) { return cmd == BIO_CTRL_FLUSH ? 1 : 0; }

}  // namespace

// Reads from the bytes of the feed() in progress; none left is "retry".
int TlsSession::bio_read(BIO* bio, char* out, std::size_t len, std::size_t* got) {
  auto* self = static_cast<TlsSession*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (self->in_.empty()) {
    BIO_set_retry_read(bio);
    *got = 0;
    return 0;
  }
  std::size_t n = std::min(len, self->in_.size());
  std::memcpy(out, self->in_.data(), n);
  self->in_ = self->in_.subspan(n);
  *got = n;
  return 1;
}

int TlsSession::bio_write(BIO* bio, const char* in, std::size_t len, std::size_t* put) {
  auto* self = static_cast<TlsSession*>(BIO_get_data(bio));
  self->out_.insert(self->out_.end(), in, in + len);
  *put = len;
  return 1;
}

TlsSession::TlsSession(SSL_CTX* ctx, Role role) {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "synod memory");
    BIO_meth_set_read_ex(m, &TlsSession::bio_read);
    BIO_meth_set_write_ex(m, &TlsSession::bio_write);
    BIO_meth_set_ctrl(m, bio_ctrl);
    return m;
  }();
  ssl_ = SSL_new(ctx);
  BIO* bio = BIO_new(method);
  BIO_set_data(bio, this);
  BIO_set_init(bio, 1);
  SSL_set_bio(ssl_, bio, bio);  // one BIO for both directions; freed by SSL_free
  if (role == Role::client) {
    SSL_set_connect_state(ssl_);
    handshake();
  } else {
    SSL_set_accept_state(ssl_);
  }
}

TlsSession::~TlsSession() { SSL_free(ssl_); }

bool TlsSession::fail(int ssl_error, const char* during) {
  failed_ = true;
  long verify = SSL_get_verify_result(ssl_);
  std::string reason = openssl_error(ssl_error == SSL_ERROR_ZERO_RETURN ? "peer closed the session"
                                                                        : "connection error");
  if (verify != X509_V_OK)
    error_ = fmt::format("{}: certificate refused: {} ({})", during,
                         X509_verify_cert_error_string(verify), reason);
  else
    error_ = fmt::format("{}: {}", during, reason);
  return false;
}

// Advances the handshake; true unless it failed.
bool TlsSession::handshake() {
  ERR_clear_error();
  int rc = SSL_do_handshake(ssl_);
  if (rc == 1) {
    established_ = true;
    return flush_pending();
  }
  int e = SSL_get_error(ssl_, rc);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return true;
  return fail(e, "TLS handshake");
}

bool TlsSession::flush_pending() {
  if (pending_.empty()) return true;
  std::vector<std::uint8_t> bytes;
  bytes.swap(pending_);
  return write(bytes);
}

bool TlsSession::feed(const std::uint8_t* data, std::size_t n,
                      std::vector<std::uint8_t>* plaintext) {
  if (failed_) return false;
  in_ = {data, n};
  // OpenSSL takes every byte before it asks for more (WANT_READ): nothing of
  // `data` is referenced after this call.
  struct Done {
    TlsSession* s;
    ~Done() { s->in_ = {}; }
  } done{this};
  if (!established_ && (!handshake() || !established_)) return !failed_;
  // Decrypted into scratch, not into plaintext's tail: growing the vector by
  // a whole record per read would zero 16 KiB for every small message.
  static thread_local std::uint8_t scratch[kReadChunk];
  for (;;) {
    ERR_clear_error();
    int rc = SSL_read(ssl_, scratch, static_cast<int>(kReadChunk));
    if (rc > 0) {
      plaintext->insert(plaintext->end(), scratch, scratch + rc);
      continue;
    }
    int e = SSL_get_error(ssl_, rc);
    if (e == SSL_ERROR_WANT_READ) return true;
    return fail(e, "TLS read");
  }
}

bool TlsSession::write(std::span<const std::uint8_t> plaintext) {
  if (failed_) return false;
  if (!established_) {
    pending_.insert(pending_.end(), plaintext.begin(), plaintext.end());
    return true;
  }
  while (!plaintext.empty()) {
    int chunk = static_cast<int>(std::min<std::size_t>(plaintext.size(), INT_MAX));
    ERR_clear_error();
    // The output BIO grows as needed, so a write is never partial.
    int rc = SSL_write(ssl_, plaintext.data(), chunk);
    if (rc <= 0) return fail(SSL_get_error(ssl_, rc), "TLS write");
    plaintext = plaintext.subspan(static_cast<std::size_t>(rc));
  }
  return true;
}

bool TlsSession::has_output() const { return !out_.empty(); }

void TlsSession::drain(std::vector<std::uint8_t>* ciphertext) {
  if (out_.empty()) return;
  if (ciphertext->empty()) {
    ciphertext->swap(out_);  // the usual case: no copy
  } else {
    ciphertext->insert(ciphertext->end(), out_.begin(), out_.end());
    out_.clear();
  }
}

std::vector<std::string> TlsSession::peer_uris() const {
  std::vector<std::string> uris;
  if (!established_ || SSL_get_verify_result(ssl_) != X509_V_OK) return uris;
  X509* cert = SSL_get0_peer_certificate(ssl_);
  if (!cert) return uris;
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (!names) return uris;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type != GEN_URI) continue;
    const ASN1_IA5STRING* s = name->d.uniformResourceIdentifier;
    uris.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                      static_cast<std::size_t>(ASN1_STRING_length(s)));
  }
  GENERAL_NAMES_free(names);
  return uris;
}

}  // namespace synod
