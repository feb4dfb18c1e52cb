package io.github.zimage4j.kernels;

/**
 * Rows of an activation: element (row r, column c) is at float offset {@code offset + r·stride + c}, so
 * an attention operand can be a column range (one head group) of a wider buffer.
 */
public record Rows(Activation data, int offset, int stride) {
}
