// `warden-notify`: reads a URL (first line) and a JSON document (the rest) on standard input and
// posts the document there with libcurl; prints the HTTP status. The URL may carry a token, so
// it never appears in an argument list (/proc/PID/cmdline is readable by everyone), and the
// process makes itself non-dumpable first. The agent owner runs it (as nobody, with an empty environment) when
// an agent ends and the policy names a webhook. A separate, dynamically linked program: Warden's
// own binaries are static, and libcurl's dependencies are not available as static libraries.
// Exit status: 0 delivered (2xx); 1 refused by the receiver; 2 not delivered; 125 bad input.
import CCurl
import CWardenShim
import Glibc

/// One line on standard error (write(2): stdio's `stderr` is shared mutable state to Swift).
func complain(_ message: String) {
    let line = Array((message + "\n").utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}

_ = wd_prctl(Int32(WD_PR_SET_DUMPABLE), 0, 0, 0, 0)
// Options (never secret): --content-type TYPE (default application/json), --ca FILE (a CA
// bundle to verify the receiver with instead of the system's: the audit stream's collector).
var contentType = "application/json"
var caBundle: String?
var options = CommandLine.arguments.dropFirst()
while let option = options.popFirst() {
    guard let value = options.popFirst(), option == "--content-type" || option == "--ca", !value.contains("\n") else {
        complain("usage: warden-notify [--content-type TYPE] [--ca FILE] < URL-line-then-body")
        exit(125)
    }
    if option == "--ca" { caBundle = value } else { contentType = value }
}
var body: [UInt8] = []
var chunk = [UInt8](repeating: 0, count: 65_536)
while body.count <= 4 << 20 {
    let n = read(0, &chunk, chunk.count)
    if n < 0 && errno == EINTR { continue }
    guard n > 0 else { break }
    body += chunk[0..<n]
}
guard body.count <= 4 << 20, let newline = body.firstIndex(of: 0x0A) else {
    complain("warden-notify: expected a URL line and a body of at most 4 MiB on standard input")
    exit(125)
}
let url = String(decoding: body[..<newline], as: UTF8.self)
body.removeSubrange(...newline)
guard url.hasPrefix("https://") || url.hasPrefix("http://") else {
    complain("warden-notify: the first line is not an http(s) URL")
    exit(125)
}
guard curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK, let curl = curl_easy_init() else {
    complain("warden-notify: libcurl cannot start")
    exit(2)
}
var headers: UnsafeMutablePointer<curl_slist>?
headers = curl_slist_append(headers, "Content-Type: " + contentType)
headers = curl_slist_append(headers, "User-Agent: warden-notify")
var errorText = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
let status: CURLcode = body.withUnsafeBytes { bytes in
    errorText.withUnsafeMutableBufferPointer { errorBuffer in
        _ = wd_curl_set_string(curl, CURLOPT_URL, url)
        _ = wd_curl_set_pointer(curl, CURLOPT_HTTPHEADER, headers)
        _ = wd_curl_set_long(curl, CURLOPT_POSTFIELDSIZE, bytes.count)
        _ = wd_curl_set_pointer(curl, CURLOPT_POSTFIELDS, bytes.baseAddress)
        // Only http(s), never a redirect elsewhere, bounded in time, certificates verified.
        _ = wd_curl_set_long(curl, CURLOPT_FOLLOWLOCATION, 0)
        _ = wd_curl_set_string(curl, CURLOPT_PROTOCOLS_STR, "http,https")
        _ = wd_curl_set_long(curl, CURLOPT_CONNECTTIMEOUT, 10)
        _ = wd_curl_set_long(curl, CURLOPT_TIMEOUT, 30)
        _ = wd_curl_set_long(curl, CURLOPT_SSL_VERIFYPEER, 1)
        _ = wd_curl_set_long(curl, CURLOPT_SSL_VERIFYHOST, 2)
        if let caBundle { _ = wd_curl_set_string(curl, CURLOPT_CAINFO, caBundle) }
        _ = wd_curl_set_long(curl, CURLOPT_NOSIGNAL, 1)
        _ = wd_curl_set_pointer(curl, CURLOPT_ERRORBUFFER, errorBuffer.baseAddress)
        return curl_easy_perform(curl)
    }
}
var code = 0
_ = wd_curl_response_code(curl, &code)
curl_slist_free_all(headers)
curl_easy_cleanup(curl)
guard status == CURLE_OK else {
    let detail = String(decoding: errorText.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    complain("warden-notify: not delivered: \(detail.isEmpty ? String(cString: curl_easy_strerror(status)) : detail)")
    exit(2)
}
print("HTTP \(code)")
exit((200..<300).contains(code) ? 0 : 1)
