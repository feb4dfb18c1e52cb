package io.github.zimage4j.server;

import io.github.zimage4j.io.Json;

import java.util.List;
import java.util.Map;
import java.util.Set;

/** Typed reads of a JSON request object; every failure is a 400 naming the field. */
final class Fields {

    private final Map<String, Object> json;

    Fields(Map<String, Object> json) {
        this.json = json;
    }

    /** Parses a request body that must be one JSON object. */
    @SuppressWarnings("unchecked")
    static Fields parse(String body) {
        Object v;
        try {
            v = Json.parse(body);
        } catch (Json.DuplicateKeyException e) {
            throw ApiException.badField(e.key(), "given twice");
        } catch (Json.JsonException e) {
            throw new ApiException(400, null, "the body is not valid JSON: " + e.getMessage(), 0);
        }
        if (!(v instanceof Map)) {
            throw new ApiException(400, null, "the body must be a JSON object", 0);
        }
        return new Fields((Map<String, Object>) v);
    }

    Map<String, Object> map() {
        return json;
    }

    boolean has(String name) {
        return json.get(name) != null;
    }

    /** Refuses any field not in {@code known} (the native API is strict so that typos do not pass unnoticed). */
    void requireOnly(Set<String> known) {
        for (String k : json.keySet()) {
            if (!known.contains(k)) {
                throw ApiException.badField(k, "unknown field (known: " + String.join(", ", known) + ")");
            }
        }
    }

    String string(String name, String dflt) {
        Object v = json.get(name);
        if (v == null) {
            return dflt;
        }
        if (!(v instanceof String s)) {
            throw ApiException.badField(name, "must be a string, got " + Json.write(v));
        }
        return s;
    }

    Long integer(String name, Long dflt, long min, long max) {
        Object v = json.get(name);
        if (v == null) {
            return dflt;
        }
        long n;
        if (v instanceof Long l) {
            n = l;
        } else if (v instanceof Double d && d == Math.rint(d) && Math.abs(d) < 0x1p53) {
            n = d.longValue();
        } else {
            throw ApiException.badField(name, "must be an integer, got " + Json.write(v));
        }
        if (n < min || n > max) {
            throw ApiException.badField(name, "must be between " + min + " and " + max + ", got " + n);
        }
        return n;
    }

    Double number(String name, Double dflt, double min, double max) {
        Object v = json.get(name);
        if (v == null) {
            return dflt;
        }
        if (!(v instanceof Number num)) {
            throw ApiException.badField(name, "must be a number, got " + Json.write(v));
        }
        double d = num.doubleValue();
        if (!(d >= min && d <= max)) {
            throw ApiException.badField(name, "must be between " + trim(min) + " and " + trim(max) + ", got " + trim(d));
        }
        return d;
    }

    Boolean bool(String name, Boolean dflt) {
        Object v = json.get(name);
        if (v == null) {
            return dflt;
        }
        if (!(v instanceof Boolean b)) {
            throw ApiException.badField(name, "must be true or false, got " + Json.write(v));
        }
        return b;
    }

    @SuppressWarnings("unchecked")
    List<Object> list(String name) {
        Object v = json.get(name);
        if (v == null) {
            return List.of();
        }
        if (!(v instanceof List)) {
            throw ApiException.badField(name, "must be a list, got " + Json.write(v));
        }
        return (List<Object>) v;
    }

    static String trim(double v) {
        return v == Math.rint(v) && Math.abs(v) < 1e15 ? Long.toString((long) v) : Double.toString(v);
    }
}
