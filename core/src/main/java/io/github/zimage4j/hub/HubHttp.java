package io.github.zimage4j.hub;

import io.github.zimage4j.io.Json;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.Map;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * GET requests to a hub with the token, redirects (the token is not sent to another host, such as a CDN),
 * bounded retries of rate limits (429, honouring {@code Retry-After}), server errors and failed connections,
 * and one clear message for each refusal (401, 403, 404, …).
 */
final class HubHttp {

    private static final int MAX_REDIRECTS = 10;

    private final HubSettings settings;
    private final HttpClient client;
    private final Consumer<String> notices;

    HubHttp(HubSettings settings, Consumer<String> notices) {
        this.settings = settings;
        this.notices = notices;
        this.client = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .followRedirects(HttpClient.Redirect.NEVER)
                .connectTimeout(Duration.ofSeconds(30))
                .build();
    }

    HubSettings settings() {
        return settings;
    }

    /** GETs a small JSON document. */
    Object json(URI uri, String what) throws IOException {
        HttpResponse<InputStream> r = get(uri, 0, what);
        try (InputStream in = r.body()) {
            String text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            try {
                return Json.parse(text);
            } catch (Json.JsonException e) {
                throw new HubException(what + ": " + uri + " did not answer JSON (" + e.getMessage() + "); is "
                        + settings.endpoint() + " a " + settings.source().displayName() + " endpoint?");
            }
        }
    }

    /**
     * GETs {@code uri}, from byte {@code rangeStart} on when it is positive. The answer is 200 or 206
     * (the caller checks which); anything else has become a {@link HubException}.
     */
    HttpResponse<InputStream> get(URI uri, long rangeStart, String what) throws IOException {
        Duration wait = settings.backoff();
        IOException last = null;
        for (int attempt = 1; attempt <= settings.maxAttempts(); attempt++) {
            if (attempt > 1) {
                sleep(wait);
                wait = wait.multipliedBy(2);
            }
            HttpResponse<InputStream> r;
            try {
                r = followRedirects(uri, rangeStart);
            } catch (IOException e) {
                last = e;
                notices.accept(what + ": " + describe(e) + "; retrying (" + attempt + "/" + settings.maxAttempts() + ")");
                continue;
            }
            int code = r.statusCode();
            if (code == 200 || code == 206) {
                return r;
            }
            String body = errorBody(r);
            if (code == 429) {
                Duration retryAfter = retryAfter(r);
                if (retryAfter != null && retryAfter.compareTo(settings.maxRetryAfter()) > 0) {
                    throw new HubException(what + ": rate limited by " + uri.getHost() + " (429), which asks to wait "
                            + retryAfter.toSeconds() + " s; try again later" + body);
                }
                if (attempt == settings.maxAttempts()) {
                    throw new HubException(what + ": rate limited by " + uri.getHost() + " (429) " + attempt
                            + " times in a row; try again later" + body);
                }
                if (retryAfter != null) {
                    wait = retryAfter;
                }
                notices.accept(what + ": rate limited (429), waiting " + wait.toMillis() / 1000.0 + " s");
                continue;
            }
            if (code >= 500 && code <= 599) {
                last = new HubException(what + ": " + uri.getHost() + " answered " + code + body);
                notices.accept(what + ": server error " + code + "; retrying (" + attempt + "/" + settings.maxAttempts() + ")");
                continue;
            }
            throw refusal(code, r, body, what);
        }
        throw new HubException(what + ": gave up after " + settings.maxAttempts() + " tries: " + describe(Objects.requireNonNull(last)), last);
    }

    private HttpResponse<InputStream> followRedirects(URI uri, long rangeStart) throws IOException {
        URI current = uri;
        for (int i = 0; i <= MAX_REDIRECTS; i++) {
            HttpRequest.Builder b = HttpRequest.newBuilder(current).GET()
                    .timeout(Duration.ofMinutes(2))
                    .header("User-Agent", "zimage4j");
            if (settings.token() != null && sameOrigin(current, settings.endpoint())) {
                b.header("Authorization", "Bearer " + settings.token());
            }
            if (rangeStart > 0) {
                b.header("Range", "bytes=" + rangeStart + "-");
            }
            HttpResponse<InputStream> r;
            try {
                r = client.send(b.build(), HttpResponse.BodyHandlers.ofInputStream());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted", e);
            }
            int code = r.statusCode();
            if (code == 301 || code == 302 || code == 303 || code == 307 || code == 308) {
                String location = r.headers().firstValue("Location").orElse(null);
                r.body().close();
                if (location == null) {
                    throw new HubException(current + " redirected (" + code + ") without a Location");
                }
                current = current.resolve(location);
                continue;
            }
            return r;
        }
        throw new HubException(uri + ": more than " + MAX_REDIRECTS + " redirects");
    }

    private HubException refusal(int code, HttpResponse<InputStream> r, String body, String what) {
        String errorCode = r.headers().firstValue("X-Error-Code").orElse("");
        String tokenHint = settings.token() == null
                ? "set " + settings.source().tokenVariable() + " to an access token that can read it"
                : "check that the token in " + settings.source().tokenVariable() + " is valid and can read it";
        String gatedHint = settings.source() == HubSettings.Source.HUGGING_FACE
                ? "; for a gated model, accept its terms on " + settings.endpoint() + " first" : "";
        return switch (code) {
            case 401 -> new HubException(what + ": not authorized (401): the repository is private or gated, or the token is wrong; "
                    + tokenHint + gatedHint + body);
            case 403 -> new HubException(what + ": access refused (403" + (errorCode.isEmpty() ? "" : ", " + errorCode)
                    + "); " + tokenHint + gatedHint + body);
            case 404 -> new HubException(what + ": not found (404" + (errorCode.isEmpty() ? "" : ", " + errorCode) + ") at "
                    + settings.endpoint() + "; check the repository id, revision and file name"
                    + (settings.token() == null ? " (a private repository also answers 404 without a token: " + tokenHint + ")" : "")
                    + body);
            case 416 -> new HubException(what + ": the server refused the byte range (416)" + body);
            default -> new HubException(what + ": " + r.uri().getHost() + " answered HTTP " + code + body);
        };
    }

    /** The server's own explanation (X-Error-Message, or a short JSON or text body), prefixed for a message. */
    private static String errorBody(HttpResponse<InputStream> r) {
        String header = r.headers().firstValue("X-Error-Message").orElse(null);
        String text;
        try (InputStream in = r.body()) {
            text = new String(in.readNBytes(4096), StandardCharsets.UTF_8).trim();
        } catch (IOException e) {
            text = "";
        }
        if (header != null && !header.isBlank()) {
            return " — the server says: " + header;
        }
        if (text.startsWith("{")) {
            try {
                if (Json.parse(text) instanceof Map<?, ?> m) {
                    for (String key : new String[]{"error", "Message", "message"}) {
                        if (m.get(key) instanceof String s && !s.isBlank()) {
                            return " — the server says: " + s;
                        }
                    }
                }
            } catch (RuntimeException e) {
                // not JSON after all: fall through to the raw text
            }
        }
        if (text.isEmpty() || text.startsWith("<")) {
            return "";
        }
        return " — the server says: " + (text.length() > 200 ? text.substring(0, 200) + "…" : text);
    }

    /** Retry-After as delay-seconds or an HTTP date; null when absent or unreadable. */
    static Duration retryAfter(HttpResponse<?> r) {
        String v = r.headers().firstValue("Retry-After").orElse(null);
        if (v == null) {
            return null;
        }
        v = v.trim();
        try {
            return Duration.ofSeconds(Math.max(0, Long.parseLong(v)));
        } catch (NumberFormatException e) {
            try {
                ZonedDateTime at = ZonedDateTime.parse(v, DateTimeFormatter.RFC_1123_DATE_TIME);
                Duration d = Duration.between(ZonedDateTime.now(at.getZone()), at);
                return d.isNegative() ? Duration.ZERO : d;
            } catch (DateTimeParseException e2) {
                return null;
            }
        }
    }

    private static boolean sameOrigin(URI a, URI b) {
        return Objects.equals(a.getScheme(), b.getScheme()) && Objects.equals(a.getHost(), b.getHost()) && a.getPort() == b.getPort();
    }

    static String describe(IOException e) {
        String m = e.getMessage();
        return e.getClass().getSimpleName() + (m == null ? "" : ": " + m);
    }

    private static void sleep(Duration d) throws IOException {
        try {
            Thread.sleep(d.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
    }
}
