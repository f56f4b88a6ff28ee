#include "tls_context.h"

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

namespace synod {

std::string openssl_error(const char* fallback) {
  unsigned long last = 0;
  while (unsigned long e = ERR_get_error()) last = e;  // the last is the most specific
  if (last == 0) return fallback;
  char buf[256];
  ERR_error_string_n(last, buf, sizeof buf);
  return buf;
}

namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;

BioPtr pem_source(const std::string& pem, const std::string& file) {
  if (!pem.empty()) return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return BioPtr(BIO_new_file(file.c_str(), "r"));
}

// "cert_file /path" or "cert_pem": where a failing item came from.
std::string origin(const char* what, const std::string& pem, const std::string& file) {
  return pem.empty() ? fmt::format("{}_file {}", what, file) : fmt::format("{}_pem", what);
}

bool load_cert_chain(SSL_CTX* ctx, const TlsOptions& o) {
  BioPtr in = pem_source(o.cert_pem, o.cert_file);
  if (!in) return false;
  X509* leaf = PEM_read_bio_X509(in.get(), nullptr, nullptr, nullptr);
  if (!leaf) return false;
  bool ok = SSL_CTX_use_certificate(ctx, leaf) == 1;
  X509_free(leaf);
  // Intermediates, if any, follow the leaf.
  while (ok) {
    X509* extra = PEM_read_bio_X509(in.get(), nullptr, nullptr, nullptr);
    if (!extra) break;
    if (SSL_CTX_add0_chain_cert(ctx, extra) != 1) {
      X509_free(extra);
      ok = false;
    }
  }
  ERR_clear_error();  // the end of the PEM reads as an error
  return ok;
}

enum class KeyLoad : std::uint8_t { ok, unreadable, mismatch };

KeyLoad load_key(SSL_CTX* ctx, const TlsOptions& o) {
  BioPtr in = pem_source(o.key_pem, o.key_file);
  if (!in) return KeyLoad::unreadable;
  EVP_PKEY* key = PEM_read_bio_PrivateKey(in.get(), nullptr, nullptr, nullptr);
  if (!key) return KeyLoad::unreadable;
  // Refused here when it is not the certificate's key.
  bool ok = SSL_CTX_use_PrivateKey(ctx, key) == 1 && SSL_CTX_check_private_key(ctx) == 1;
  EVP_PKEY_free(key);
  return ok ? KeyLoad::ok : KeyLoad::mismatch;
}

bool load_ca(SSL_CTX* ctx, const TlsOptions& o) {
  BioPtr in = pem_source(o.ca_pem, o.ca_file);
  if (!in) return false;
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  int added = 0;
  while (X509* ca = PEM_read_bio_X509(in.get(), nullptr, nullptr, nullptr)) {
    int rc = X509_STORE_add_cert(store, ca);
    X509_free(ca);
    if (rc != 1) return false;
    ++added;
  }
  if (added == 0) return false;
  ERR_clear_error();
  return true;
}

}  // namespace

std::unique_ptr<TlsContext> TlsContext::create(const TlsOptions& o, std::string* why,
                                               PeerCert peer_cert) {
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_method());
  if (!ctx) {
    *why = "SSL_CTX_new: " + openssl_error("failed");
    return nullptr;
  }
  std::unique_ptr<TlsContext> out(new TlsContext(ctx));
  auto fail = [&](std::string what) {
    *why = fmt::format("{}: {}", what, openssl_error("no PEM data"));
    return nullptr;
  };
  if (!load_cert_chain(ctx, o))
    return fail("cannot load " + origin("cert", o.cert_pem, o.cert_file));
  KeyLoad key = load_key(ctx, o);
  if (key == KeyLoad::unreadable)
    return fail("cannot load " + origin("key", o.key_pem, o.key_file));
  if (key == KeyLoad::mismatch)
    return fail(fmt::format("{} does not match {}", origin("key", o.key_pem, o.key_file),
                            origin("cert", o.cert_pem, o.cert_file)));
  if (o.ca_pem.empty() && o.ca_file.empty()) {
    *why = "no CA given (ca_file or ca_pem): peers could not be verified";
    return nullptr;
  }
  if (!load_ca(ctx, o)) return fail("cannot load " + origin("ca", o.ca_pem, o.ca_file));
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  // AES-128-GCM first: as safe here and cheaper per byte than AES-256.
  SSL_CTX_set_ciphersuites(
      ctx, "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384");
  SSL_CTX_set_verify(ctx,
                     peer_cert == PeerCert::required
                         ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
                         : SSL_VERIFY_NONE,
                     nullptr);
  // Peers reconnect with a full handshake: no session tickets to keep.
  SSL_CTX_set_num_tickets(ctx, 0);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  return out;
}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

}  // namespace synod
