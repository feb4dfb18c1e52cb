package io.github.zimage4j.tokenizer;

import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;

/**
 * Regenerates the bundled tokenizer resource from a {@code tokenizer.json} (a developer tool, not a test):
 * <pre>
 * ./mvnw -B -q -pl core test-compile
 * java -cp core/target/classes:core/target/test-classes io.github.zimage4j.tokenizer.WriteBundledTokenizer \
 *     ../shared/golden/tokenizer/qwen3/tokenizer.json \
 *     core/src/main/resources/io/github/zimage4j/tokenizer/qwen3-tokenizer.bin.gz
 * </pre>
 * It prints the input's SHA-256 for the NOTICE. {@code BundledTokenizerTest} fails when the resource no
 * longer holds what the golden {@code tokenizer.json} holds.
 */
public final class WriteBundledTokenizer {

    private WriteBundledTokenizer() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: WriteBundledTokenizer TOKENIZER_JSON OUTPUT_BIN_GZ");
            System.exit(2);
        }
        Path in = Path.of(args[0]);
        Path out = Path.of(args[1]);
        TokenizerData data = TokenizerJsonReader.read(in);
        CompactTokenizerFile.write(data, out);
        String sha = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(in)));
        System.out.printf("%s (sha256 %s): %d tokens, %d merges, %d added tokens%n  -> %s, %d bytes%n",
                in, sha, data.vocab().length, data.mergeLeft().length, data.addedTokens().size(), out, Files.size(out));
    }
}
