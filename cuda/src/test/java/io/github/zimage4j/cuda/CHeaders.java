package io.github.zimage4j.cuda;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Just enough of a C declaration reader to check FFM bindings against the CUDA headers: function
 * declarations (first one of each name wins, as the legacy re-declarations in cuda.h come last), and
 * typedefs resolved to what FFM passes: a pointer, an int-sized integer or enum, a 64-bit integer, a
 * float or a byte.
 */
final class CHeaders {

    enum Kind { POINTER, INT, LONG, FLOAT, BYTE, VOID, STRUCT }

    record Declaration(String name, Kind returns, List<Kind> params, String text) {
    }

    private final String text;
    private final Map<String, String> typedefs = new HashMap<>();
    private final Set<String> enums = new java.util.HashSet<>();
    private final Set<String> structs = new java.util.HashSet<>();

    CHeaders(List<Path> files) throws IOException {
        StringBuilder all = new StringBuilder();
        for (Path f : files) {
            all.append(clean(Files.readString(f))).append(' ');
        }
        text = all.toString();
        Matcher e = Pattern.compile("typedef\\s+enum\\s*\\w*\\s*\\{[^}]*\\}\\s*(\\w+)\\s*;").matcher(text);
        while (e.find()) {
            enums.add(e.group(1));
        }
        Matcher s = Pattern.compile("typedef\\s+struct\\s*\\w*\\s*\\{[^}]*\\}\\s*(\\w+)\\s*;").matcher(text);
        while (s.find()) {
            structs.add(s.group(1));
        }
        Matcher t = Pattern.compile("typedef\\s+([^;{}()]+?)\\s*\\b(\\w+)\\s*;").matcher(text);
        while (t.find()) {
            typedefs.putIfAbsent(t.group(2), t.group(1).replace("__device_builtin__", "").trim());
        }
    }

    /** Comments and preprocessor lines removed, whitespace collapsed. */
    private static String clean(String src) {
        String s = src.replaceAll("(?s)/\\*.*?\\*/", " ");
        s = s.replaceAll("//[^\n]*", " ");
        s = s.replaceAll("\\\\\n", " ");
        s = s.replaceAll("(?m)^\\s*#[^\n]*", " ");
        return s.replaceAll("\\s+", " ");
    }

    Optional<Declaration> function(String name) {
        Matcher m = Pattern.compile("\\b" + Pattern.quote(name) + "\\s*\\(([^()]*)\\)\\s*;").matcher(text);
        if (!m.find()) {
            return Optional.empty();
        }
        int start = m.start();
        int b = start - 1;
        while (b >= 0 && ";{}".indexOf(text.charAt(b)) < 0) {
            b--;
        }
        String ret = text.substring(b + 1, start)
                .replaceAll("\\b(CUDAAPI|CUBLASWINAPI|CUBLASAPI|NVRTC_API|__CUDA_DEPRECATED|extern|\"C\")\\b|\"C\"", " ")
                .trim();
        List<Kind> params = new ArrayList<>();
        String args = m.group(1).trim();
        if (!args.isEmpty() && !args.equals("void")) {
            for (String p : args.split(",")) {
                params.add(paramKind(p.trim(), name));
            }
        }
        return Optional.of(new Declaration(name, typeKind(ret, name), params, text.substring(b + 1, m.end()).trim()));
    }

    private Kind paramKind(String param, String fn) {
        if (param.contains("*") || param.contains("[")) {
            return Kind.POINTER;
        }
        List<String> words = new ArrayList<>(List.of(param.split("\\s+")));
        words.remove("const");
        if (words.size() < 2) {
            throw new IllegalArgumentException(fn + ": cannot tell type from name in parameter '" + param + "'");
        }
        words.removeLast(); // the parameter's name
        return typeKind(String.join(" ", words), fn);
    }

    Kind typeKind(String type, String fn) {
        String t = type.replace("const", " ").trim().replaceAll("\\s+", " ");
        if (t.contains("*")) {
            return Kind.POINTER;
        }
        switch (t) {
            case "void":
                return Kind.VOID;
            case "int", "unsigned int", "unsigned", "int32_t", "uint32_t", "signed int":
                return Kind.INT;
            case "size_t", "unsigned long long", "long long", "uint64_t", "int64_t", "unsigned long", "long",
                 "unsigned long long int", "cuuint64_t":
                return Kind.LONG;
            case "float":
                return Kind.FLOAT;
            case "char", "unsigned char", "signed char":
                return Kind.BYTE;
            default:
                break;
        }
        if (t.startsWith("enum ")) {
            return Kind.INT;
        }
        if (enums.contains(t)) {
            return Kind.INT;
        }
        if (t.startsWith("struct ") || structs.contains(t)) {
            return Kind.STRUCT;
        }
        String def = typedefs.get(t);
        if (def == null) {
            throw new IllegalArgumentException(fn + ": unknown C type '" + t + "'");
        }
        return typeKind(def, fn);
    }
}
