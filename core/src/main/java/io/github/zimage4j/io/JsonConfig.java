package io.github.zimage4j.io;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Typed, strict access to a {@code config.json}: every error names the file and the key, and says what
 * was expected and what was found.
 */
public final class JsonConfig {

    private final String source;
    private final Map<String, Object> map;

    public JsonConfig(String source, Map<String, Object> map) {
        this.source = source;
        this.map = map;
    }

    public static JsonConfig read(Path file) throws IOException {
        return new JsonConfig(file.toString(), Json.parseObject(file));
    }

    public String source() {
        return source;
    }

    public Map<String, Object> asMap() {
        return map;
    }

    public boolean has(String key) {
        return map.containsKey(key) && map.get(key) != null;
    }

    private Object require(String key) {
        if (!map.containsKey(key)) {
            throw new ConfigException(source + ": missing key \"" + key + "\"");
        }
        return map.get(key);
    }

    private ConfigException wrongType(String key, String expected, Object found) {
        return new ConfigException(source + ": key \"" + key + "\" should be " + expected + " but is "
                + (found == null ? "null" : Json.write(found)));
    }

    public int getInt(String key) {
        Object v = require(key);
        if (v instanceof Long l && l >= Integer.MIN_VALUE && l <= Integer.MAX_VALUE) {
            return l.intValue();
        }
        throw wrongType(key, "an integer", v);
    }

    public int getInt(String key, int dflt) {
        return has(key) ? getInt(key) : dflt;
    }

    public double getDouble(String key) {
        Object v = require(key);
        if (v instanceof Number n) {
            return n.doubleValue();
        }
        throw wrongType(key, "a number", v);
    }

    public double getDouble(String key, double dflt) {
        return has(key) ? getDouble(key) : dflt;
    }

    public boolean getBoolean(String key, boolean dflt) {
        if (!has(key)) {
            return dflt;
        }
        Object v = map.get(key);
        if (v instanceof Boolean b) {
            return b;
        }
        throw wrongType(key, "true or false", v);
    }

    public String getString(String key, String dflt) {
        if (!has(key)) {
            return dflt;
        }
        Object v = map.get(key);
        if (v instanceof String s) {
            return s;
        }
        throw wrongType(key, "a string", v);
    }

    public int[] getIntArray(String key) {
        Object v = require(key);
        if (v instanceof List<?> list) {
            int[] out = new int[list.size()];
            for (int i = 0; i < out.length; i++) {
                if (!(list.get(i) instanceof Long l) || l < Integer.MIN_VALUE || l > Integer.MAX_VALUE) {
                    throw wrongType(key, "a list of integers", v);
                }
                out[i] = l.intValue();
            }
            return out;
        }
        throw wrongType(key, "a list of integers", v);
    }

    public int[] getIntArray(String key, int[] dflt) {
        return has(key) ? getIntArray(key) : dflt;
    }

    /** Thrown when a config file lacks a key or holds a value of the wrong kind. */
    public static final class ConfigException extends IllegalArgumentException {
        public ConfigException(String message) {
            super(message);
        }
    }
}
