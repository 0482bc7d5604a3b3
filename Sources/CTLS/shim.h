#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <openssl/pem.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

// OpenSSL spells these as macros, which Swift cannot call: one typed wrapper each.

static inline int wd_tls_set_server_name(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}
static inline int wd_tls_ctx_set_min_tls12(SSL_CTX *ctx) {
    return (int)SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
}
static inline long wd_tls_ctx_set_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_mode(ctx, mode);
}
static inline long wd_tls_bio_pending(BIO *bio) {
    return (long)BIO_pending(bio);
}
/// A memory BIO that reports "retry" (not end of file) when empty: the guard feeds it as
/// bytes arrive from the socket.
static inline void wd_tls_bio_set_retry_when_empty(BIO *bio) {
    (void)BIO_set_mem_eof_return(bio, -1);
}
static inline int wd_tls_add_dns_name(GENERAL_NAMES *names, const char *name, int length) {
    ASN1_IA5STRING *text = ASN1_IA5STRING_new();
    if (!text) return 0;
    if (!ASN1_STRING_set(text, name, length)) { ASN1_IA5STRING_free(text); return 0; }
    GENERAL_NAME *entry = GENERAL_NAME_new();
    if (!entry) { ASN1_IA5STRING_free(text); return 0; }
    GENERAL_NAME_set0_value(entry, GEN_DNS, text);
    if (!sk_GENERAL_NAME_push(names, entry)) { GENERAL_NAME_free(entry); return 0; }
    return 1;
}
static inline GENERAL_NAMES *wd_tls_general_names_new(void) {
    return sk_GENERAL_NAME_new_null();
}
static inline void wd_tls_general_names_free(GENERAL_NAMES *names) {
    sk_GENERAL_NAME_pop_free(names, GENERAL_NAME_free);
}

/// The ALPN protocols the guard accepts from a client, in the guard's order (wire format),
/// kept in the SSL's ex_data slot 0 by the connection. No overlap: no ALPN is negotiated,
/// and whatever the client then sends is judged as HTTP/1.x (an HTTP/2 preface is refused).
static int wd_tls_select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                              const unsigned char *in, unsigned int inlen, void *arg) {
    (void)arg;
    const unsigned char *wanted = (const unsigned char *)SSL_get_ex_data(ssl, 0);
    if (!wanted || wanted[0] == 0) return SSL_TLSEXT_ERR_NOACK;
    unsigned int wantedLength = 0;
    while (wanted[wantedLength] != 0) wantedLength += 1u + wanted[wantedLength];
    unsigned char *chosen = NULL;
    unsigned char chosenLength = 0;
    if (SSL_select_next_proto(&chosen, &chosenLength, wanted, wantedLength, in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = chosen;
    *outlen = chosenLength;
    return SSL_TLSEXT_ERR_OK;
}
static inline void wd_tls_ctx_use_alpn_choice(SSL_CTX *ctx) {
    SSL_CTX_set_alpn_select_cb(ctx, wd_tls_select_alpn, NULL);
}

static inline void wd_tls_ctx_set_read_ahead(SSL_CTX *ctx) {
    SSL_CTX_set_read_ahead(ctx, 1);
}
static inline void wd_tls_ctx_prefer_own_ciphers(SSL_CTX *ctx) {
    SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
}
/// TLS 1.2 renegotiation costs the guard a signature each time a program asks: refused.
static inline void wd_tls_ctx_no_renegotiation(SSL_CTX *ctx) {
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
}
/// Initialises OpenSSL without reading the host's openssl.cnf: the guard sets every option it
/// relies on itself, and a host configuration neither changes nor slows it.
static inline int wd_tls_initialise(void) {
    return OPENSSL_init_ssl(OPENSSL_INIT_NO_LOAD_CONFIG, NULL)
        && OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, NULL);
}
