// The default Uploader: HttpURLConnection (OkHttp underneath on Android),
// sending the core's requests byte for byte. It decides nothing about what
// is sent or when; the core does.
package dev.consentgate

import java.io.InputStream
import java.net.HttpURLConnection
import java.net.URL
import java.text.ParseException
import java.text.SimpleDateFormat
import java.util.Locale
import java.util.TimeZone

/**
 * Sends the core's requests with `HttpURLConnection` (OkHttp underneath on
 * Android). The core has already built everything: method, URL, headers
 * (content type, `Content-Encoding: gzip`, user agent, idempotency key) and
 * the gzip body, which goes out byte for byte.
 *
 * ```kotlin
 * val report = gate.flush(HttpUploader())   // suspends; flushBlocking(HttpUploader()) blocks
 * ```
 *
 * It adds no `Cookie` header and reads no `Set-Cookie`, uses no HTTP cache
 * and follows no redirect (a redirect would re-send the body somewhere the
 * policy does not name; the core treats the 3xx as a reply to retry). An
 * app-wide `java.net.CookieHandler`, if the app installed one, is applied by
 * the platform to every `HttpURLConnection`; an app that has one and wants
 * none for consentgate can pass its own [Uploader] (e.g. OkHttp with an empty
 * cookie jar). Failures to connect or read become
 * [UploadResult.NetworkError], never exceptions.
 *
 * @param connectTimeoutMs connect timeout.
 * @param readTimeoutMs read timeout (per read, not for the whole reply).
 * @param maxReplyBytes longest reply body read (deletion receipts are small).
 */
class HttpUploader @JvmOverloads constructor(
    private val connectTimeoutMs: Int = 15_000,
    private val readTimeoutMs: Int = 30_000,
    private val maxReplyBytes: Int = 64 * 1024,
) : Uploader {

    override fun send(request: UploadRequest): UploadResult {
        var connection: HttpURLConnection? = null
        return try {
            val c = URL(request.url).openConnection() as HttpURLConnection
            connection = c
            c.requestMethod = request.method
            c.connectTimeout = connectTimeoutMs
            c.readTimeout = readTimeoutMs
            c.useCaches = false
            c.instanceFollowRedirects = false
            c.doInput = true
            c.doOutput = true
            c.setFixedLengthStreamingMode(request.body.size)
            for (h in request.headers) c.setRequestProperty(h.name, h.value)
            c.outputStream.use { it.write(request.body) }
            val status = c.responseCode
            val retryAfter = parseRetryAfter(c.getHeaderField("Retry-After"))
            val reply = (if (status >= 400) c.errorStream else c.inputStream)?.use { readCapped(it) }
            UploadResult.Http(status, retryAfter, reply)
        } catch (e: Exception) {
            // An IOException, or a RuntimeException for a URL HttpURLConnection
            // cannot open or a security manager: no answer either way.
            connection?.disconnect()
            UploadResult.NetworkError("${e.javaClass.simpleName}: ${e.message}")
        }
    }

    /** Reads at most [maxReplyBytes] and drains the rest, so the connection can be reused. */
    private fun readCapped(input: InputStream): String {
        val out = java.io.ByteArrayOutputStream()
        val buf = ByteArray(8192)
        while (true) {
            val n = input.read(buf)
            if (n < 0) break
            val room = maxReplyBytes - out.size()
            if (room > 0) out.write(buf, 0, minOf(n, room))
        }
        return out.toString(Charsets.UTF_8.name())
    }

    internal companion object {
        /** `Retry-After` as delta-seconds or an HTTP date; null when absent or unreadable. */
        fun parseRetryAfter(value: String?, nowMs: Long = System.currentTimeMillis()): Long? {
            val v = value?.trim()?.takeIf { it.isNotEmpty() } ?: return null
            v.toLongOrNull()?.let { return if (it >= 0) it else null }
            // SimpleDateFormat, not java.time: minSdk 21 has no java.time without desugaring.
            val format = SimpleDateFormat("EEE, dd MMM yyyy HH:mm:ss zzz", Locale.US)
            format.timeZone = TimeZone.getTimeZone("GMT")
            return try {
                val at = format.parse(v)?.time ?: return null
                ((at - nowMs).coerceAtLeast(0) / 1000)
            } catch (e: ParseException) {
                null
            }
        }
    }
}
