package io.github.zimage4j.batch;

import io.github.zimage4j.io.Json;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One line of a batch manifest: a finished image, or a request that failed.
 *
 * @param id      the request id
 * @param status  {@link #DONE} or {@link #FAILED}
 * @param seed    the seed the image was made with (null when failed)
 * @param file    the PNG's file name in the output folder (null when failed)
 * @param sha256  hex SHA-256 of the PNG file (null when failed)
 * @param bytes   the PNG's size (null when failed)
 * @param seconds the wall time the request took, prompt encoding included
 * @param backend the compute backend
 * @param error   why it failed (null when done)
 */
public record ManifestRecord(String id, String status, Long seed, String file, String sha256, Long bytes, double seconds,
                             String backend, String error) {

    public static final String DONE = "done";
    public static final String FAILED = "failed";

    public ManifestRecord {
        if (id == null || !(DONE.equals(status) || FAILED.equals(status))) {
            throw new IllegalArgumentException("a manifest record needs an id and a status \"done\" or \"failed\", got id "
                    + id + ", status " + status);
        }
        if (DONE.equals(status) && (seed == null || file == null || sha256 == null || bytes == null)) {
            throw new IllegalArgumentException("a done record of \"" + id + "\" needs seed, file, sha256 and bytes");
        }
    }

    public static ManifestRecord done(String id, long seed, String file, String sha256, long bytes, double seconds, String backend) {
        return new ManifestRecord(id, DONE, seed, file, sha256, bytes, seconds, backend, null);
    }

    public static ManifestRecord failed(String id, double seconds, String backend, String error) {
        return new ManifestRecord(id, FAILED, null, null, null, null, seconds, backend, error);
    }

    public boolean isDone() {
        return DONE.equals(status);
    }

    /** One compact JSON object, no line breaks (failed records leave out the image fields). */
    public String toJson() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", id);
        m.put("status", status);
        if (isDone()) {
            m.put("seed", seed);
            m.put("file", file);
            m.put("sha256", sha256);
            m.put("bytes", bytes);
        }
        m.put("seconds", Math.round(seconds * 1000) / 1000.0);
        m.put("backend", backend);
        if (error != null) {
            m.put("error", error);
        }
        return Json.write(m);
    }

    /** Reads a record written by {@link #toJson}. */
    public static ManifestRecord fromJson(Map<String, ?> m) {
        return new ManifestRecord(str(m, "id"), str(m, "status"), lng(m, "seed"), str(m, "file"), str(m, "sha256"),
                lng(m, "bytes"), m.get("seconds") instanceof Number n ? n.doubleValue() : 0, str(m, "backend"), str(m, "error"));
    }

    private static String str(Map<String, ?> m, String key) {
        Object v = m.get(key);
        if (v != null && !(v instanceof String)) {
            throw new IllegalArgumentException("\"" + key + "\" must be a string, got " + v);
        }
        return (String) v;
    }

    private static Long lng(Map<String, ?> m, String key) {
        Object v = m.get(key);
        if (v != null && !(v instanceof Long)) {
            throw new IllegalArgumentException("\"" + key + "\" must be a whole number, got " + v);
        }
        return (Long) v;
    }
}
