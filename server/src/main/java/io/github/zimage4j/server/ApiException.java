package io.github.zimage4j.server;

/**
 * A request the server refuses, with the HTTP status, the request field at fault (null when none) and a
 * message for the client. Thrown before any work starts.
 */
final class ApiException extends RuntimeException {

    final int status;
    final String field;
    /** Seconds a client should wait before retrying (429), else 0. */
    final long retryAfterSeconds;

    ApiException(int status, String field, String message, long retryAfterSeconds) {
        super(message);
        this.status = status;
        this.field = field;
        this.retryAfterSeconds = retryAfterSeconds;
    }

    /** 400 for a bad value; the message starts with the field's name. */
    static ApiException badField(String field, String message) {
        return new ApiException(400, field, field + ": " + message, 0);
    }

    static ApiException of(int status, String message) {
        return new ApiException(status, null, message, 0);
    }
}
