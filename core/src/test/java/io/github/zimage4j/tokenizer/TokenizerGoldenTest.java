package io.github.zimage4j.tokenizer;

import io.github.zimage4j.io.Json;
import io.github.zimage4j.testing.Golden;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every case of golden/tokenizer/cases.jsonl, exact: {@code ids}, {@code chat_text}, {@code chat_ids} and
 * {@code decoded}, once with the golden {@code tokenizer.json} and once with the bundled resource; and the
 * pipeline's truncation to 512 on the cases that are longer.
 */
class TokenizerGoldenTest {

    record Case(String id, String category, String text, int[] ids, String chatText, int[] chatIds, String decoded) {
        String displayName() {
            return id + " (" + category + ")";
        }
    }

    static Path goldenDir() {
        return Golden.root().resolve("tokenizer");
    }

    static List<Case> cases() {
        Path file = goldenDir().resolve("cases.jsonl");
        List<Case> out = new ArrayList<>();
        try {
            for (String line : Files.readAllLines(file)) {
                if (line.isBlank()) {
                    continue;
                }
                @SuppressWarnings("unchecked")
                Map<String, Object> m = (Map<String, Object>) Json.parse(line);
                for (String field : List.of("id", "category", "text", "ids", "chat_text", "chat_ids", "decoded")) {
                    assertTrue(m.containsKey(field), file + ": a case without \"" + field + "\": " + line);
                }
                out.add(new Case((String) m.get("id"), (String) m.get("category"), (String) m.get("text"),
                        ints(m.get("ids")), (String) m.get("chat_text"), ints(m.get("chat_ids")), (String) m.get("decoded")));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        assertFalse(out.isEmpty(), file + " holds no case");
        return out;
    }

    static int[] ints(Object list) {
        return ((List<?>) list).stream().mapToInt(o -> ((Long) o).intValue()).toArray();
    }

    static Qwen3Tokenizer fromGoldenJson() {
        try {
            return Qwen3Tokenizer.parse(goldenDir().resolve("qwen3").resolve("tokenizer.json"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @TestFactory
    Stream<DynamicTest> goldenTokenizerJson() {
        Qwen3Tokenizer tokenizer = fromGoldenJson();
        return cases().stream().map(c -> DynamicTest.dynamicTest(c.displayName(), () -> check(tokenizer, c)));
    }

    @TestFactory
    Stream<DynamicTest> bundledResource() {
        Qwen3Tokenizer tokenizer = Qwen3Tokenizer.bundled();
        return cases().stream().map(c -> DynamicTest.dynamicTest(c.displayName(), () -> check(tokenizer, c)));
    }

    static void check(Qwen3Tokenizer tokenizer, Case c) {
        assertArrayEquals(c.ids(), tokenizer.encode(c.text()), "ids");
        assertEquals(c.chatText(), Qwen3Tokenizer.chatText(c.text()), "chat_text");
        assertArrayEquals(c.chatIds(), tokenizer.encode(c.chatText()), "chat_ids");
        assertEquals(c.decoded(), tokenizer.decode(c.ids()), "decoded");
        PromptTokens prompt = tokenizer.chatIds(c.text(), Qwen3Tokenizer.DEFAULT_MAX_SEQUENCE_LENGTH);
        int kept = Math.min(c.chatIds().length, Qwen3Tokenizer.DEFAULT_MAX_SEQUENCE_LENGTH);
        assertArrayEquals(Arrays.copyOf(c.chatIds(), kept), prompt.ids(), "chatIds(text, 512).ids");
        assertEquals(c.chatIds().length - kept, prompt.droppedTokens(), "chatIds(text, 512).droppedTokens");
    }

    /** The golden chat_ids are not truncated; the pipeline keeps the first 512 and the rest is logged. */
    @TestFactory
    Stream<DynamicTest> truncationTo512() {
        Qwen3Tokenizer tokenizer = Qwen3Tokenizer.bundled();
        List<Case> longCases = cases().stream().filter(c -> c.chatIds().length > 512).toList();
        return longCases.stream().map(c -> DynamicTest.dynamicTest(c.displayName(), () -> {
            List<LogRecord> logged = new ArrayList<>();
            Logger logger = Logger.getLogger(Qwen3Tokenizer.class.getName());
            Handler handler = new Handler() {
                @Override
                public void publish(LogRecord r) {
                    logged.add(r);
                }

                @Override
                public void flush() {
                }

                @Override
                public void close() {
                }
            };
            logger.addHandler(handler);
            PromptTokens prompt;
            try {
                prompt = tokenizer.chatIds(c.text(), 512);
            } finally {
                logger.removeHandler(handler);
            }
            int dropped = c.chatIds().length - 512;
            assertArrayEquals(Arrays.copyOf(c.chatIds(), 512), prompt.ids());
            assertEquals(dropped, prompt.droppedTokens());
            assertTrue(prompt.truncated());
            assertEquals(1, logged.size(), "one log record for the truncation");
            assertEquals(Level.WARNING, logged.get(0).getLevel());
            assertTrue(logged.get(0).getMessage().contains("the last " + dropped + " tokens are dropped"),
                    logged.get(0).getMessage());
        }));
    }

    @Test
    void emptyNegativePrompt() {
        PromptTokens negative = Qwen3Tokenizer.bundled().chatIds("");
        assertArrayEquals(new int[] {151644, 872, 198, 151645, 198, 151644, 77091, 198}, negative.ids());
        assertFalse(negative.truncated());
    }

    /** The published Qwen3 tokenizer.json, the bundled data's source (a fixture of the shared set). */
    static Path publishedTokenizerJson() {
        return Golden.fixture("tokenizer/qwen3/tokenizer.json");
    }

    /** The published tokenizer.json is the bundled data's source: load() takes the compact form, same results. */
    @Test
    void loadingThePublishedFileUsesTheBundledForm() throws Exception {
        Path file = publishedTokenizerJson();
        Qwen3Tokenizer fast = Qwen3Tokenizer.load(file);
        Qwen3Tokenizer parsed = Qwen3Tokenizer.parse(file);
        assertEquals(file.toString(), fast.source());
        for (String text : new String[]{"A beautiful sunset over the ocean", "一只在雪地里的红狐狸 <think> 123", ""}) {
            assertArrayEquals(parsed.chatIds(text, 512).ids(), fast.chatIds(text, 512).ids(), text);
        }
    }

    @Test
    void sizeAndSource() throws IOException {
        Qwen3Tokenizer json = Qwen3Tokenizer.parse(publishedTokenizerJson());
        Qwen3Tokenizer bundled = Qwen3Tokenizer.bundled();
        assertEquals(151669, json.vocabSize());
        assertEquals(151669, bundled.vocabSize());
        assertEquals(publishedTokenizerJson().toString(), json.source());
        assertTrue(bundled.source().startsWith("bundled "), bundled.source());
    }
}
