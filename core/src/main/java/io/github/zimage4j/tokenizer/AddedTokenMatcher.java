package io.github.zimage4j.tokenizer;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Finds added tokens ({@code <|im_start|>}, {@code <think>}, ...) in raw text the way the reference does
 * (an Aho-Corasick automaton with leftmost-longest semantics): the match that starts first wins, and of
 * those starting at the same place, the longest. Matching is literal and case-sensitive.
 */
final class AddedTokenMatcher {

    record Match(int start, int end, int id) {
    }

    /** The distinct first characters, and for each the tokens starting with it, longest first. */
    private final char[] firstChars;
    private final TokenizerData.AddedToken[][] candidates;

    AddedTokenMatcher(List<TokenizerData.AddedToken> tokens) {
        List<Character> firsts = new ArrayList<>();
        List<List<TokenizerData.AddedToken>> groups = new ArrayList<>();
        for (TokenizerData.AddedToken t : tokens) {
            char first = t.content().charAt(0);
            int k = firsts.indexOf(first);
            if (k < 0) {
                firsts.add(first);
                groups.add(new ArrayList<>());
                k = firsts.size() - 1;
            }
            groups.get(k).add(t);
        }
        firstChars = new char[firsts.size()];
        candidates = new TokenizerData.AddedToken[firsts.size()][];
        for (int k = 0; k < firstChars.length; k++) {
            firstChars[k] = firsts.get(k);
            groups.get(k).sort(Comparator.comparingInt((TokenizerData.AddedToken t) -> t.content().length()).reversed());
            candidates[k] = groups.get(k).toArray(new TokenizerData.AddedToken[0]);
        }
    }

    /** The first added token in {@code text} at or after {@code from}, or {@code null}. */
    Match find(String text, int from) {
        for (int i = from; i < text.length(); i++) {
            char c = text.charAt(i);
            for (int k = 0; k < firstChars.length; k++) {
                if (firstChars[k] != c) {
                    continue;
                }
                for (TokenizerData.AddedToken t : candidates[k]) {
                    if (text.startsWith(t.content(), i)) {
                        return new Match(i, i + t.content().length(), t.id());
                    }
                }
            }
        }
        return null;
    }
}
