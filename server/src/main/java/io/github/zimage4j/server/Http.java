package io.github.zimage4j.server;

import com.sun.net.httpserver.HttpExchange;
import io.github.zimage4j.io.Json;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/** Small helpers over the JDK's HTTP exchange: bounded bodies, JSON answers, errors. */
final class Http {

    private Http() {
    }

    /** The request body as UTF-8, refused with 413 past {@code max} bytes (declared or actually sent). */
    static String body(HttpExchange ex, int max) throws IOException {
        String declared = ex.getRequestHeaders().getFirst("Content-Length");
        if (declared != null) {
            long n;
            try {
                n = Long.parseLong(declared.strip());
            } catch (NumberFormatException e) {
                throw ApiException.of(400, "Content-Length is not a number: " + declared);
            }
            if (n > max) {
                throw ApiException.of(413, "the request body is " + n + " bytes; at most " + max + " are accepted");
            }
        }
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        byte[] chunk = new byte[8192];
        try (InputStream in = ex.getRequestBody()) {
            int r;
            while ((r = in.read(chunk)) > 0) {
                if (buf.size() + r > max) {
                    throw ApiException.of(413, "the request body is over " + max + " bytes");
                }
                buf.write(chunk, 0, r);
            }
        }
        return buf.toString(StandardCharsets.UTF_8);
    }

    static void json(HttpExchange ex, int status, Object body) throws IOException {
        send(ex, status, "application/json; charset=utf-8", Json.write(body).getBytes(StandardCharsets.UTF_8));
    }

    static void send(HttpExchange ex, int status, String contentType, byte[] body) throws IOException {
        ex.getResponseHeaders().set("Content-Type", contentType);
        ex.getResponseHeaders().set("Cache-Control", "no-store");
        ex.getResponseHeaders().set("X-Content-Type-Options", "nosniff");
        boolean head = ex.getRequestMethod().equals("HEAD");
        ex.sendResponseHeaders(status, head || body.length == 0 ? -1 : body.length);
        if (!head && body.length > 0) {
            try (OutputStream out = ex.getResponseBody()) {
                out.write(body);
            }
        }
        ex.close();
    }

    /**
     * An error in OpenAI's shape ({@code {"error": {"message", "type", "param", "code"}}}), which OpenAI clients
     * surface as the exception message, plus A1111/FastAPI's {@code detail}.
     */
    static void error(HttpExchange ex, ApiException e) throws IOException {
        Map<String, Object> err = new LinkedHashMap<>();
        err.put("message", e.getMessage());
        err.put("type", switch (e.status) {
            case 401 -> "authentication_error";
            case 429 -> "rate_limit_error";
            case 503 -> "server_unavailable";
            default -> e.status >= 500 ? "server_error" : "invalid_request_error";
        });
        err.put("param", e.field);
        err.put("code", null);
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("error", err);
        body.put("detail", e.getMessage());
        if (e.retryAfterSeconds > 0) {
            ex.getResponseHeaders().set("Retry-After", Long.toString(e.retryAfterSeconds));
        }
        if (e.status == 401) {
            ex.getResponseHeaders().set("WWW-Authenticate", "Bearer realm=\"zimage4j\"");
        }
        json(ex, e.status, body);
    }

    static void requireMethod(HttpExchange ex, String... allowed) {
        for (String m : allowed) {
            if (ex.getRequestMethod().equals(m)) {
                return;
            }
        }
        ex.getResponseHeaders().set("Allow", String.join(", ", allowed));
        throw ApiException.of(405, ex.getRequestMethod() + " is not allowed here; use " + String.join(" or ", allowed));
    }
}
