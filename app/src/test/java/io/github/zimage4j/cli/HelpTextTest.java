package io.github.zimage4j.cli;

import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;
import picocli.CommandLine;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertFalse;

/**
 * Every command's help renders cleanly: picocli formats descriptions as format strings, so a bare '%' in
 * an option's text makes it print a warning to standard error and show the raw text ('%n' unreplaced).
 */
class HelpTextTest {

    @TestFactory
    Stream<DynamicTest> everyCommandsHelpFormats() {
        CommandLine root = Main.commandLine();
        return Stream.concat(Stream.of(root), root.getSubcommands().values().stream()).distinct().map(cmd ->
                DynamicTest.dynamicTest(cmd.getCommandName(), () -> {
                    PrintStream before = System.err;
                    ByteArrayOutputStream err = new ByteArrayOutputStream();
                    String usage;
                    try {
                        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
                        usage = cmd.getUsageMessage(CommandLine.Help.Ansi.OFF);
                    } finally {
                        System.setErr(before);
                    }
                    String warnings = err.toString(StandardCharsets.UTF_8);
                    assertFalse(warnings.contains("picocli WARN"), cmd.getCommandName() + " help: " + warnings);
                    assertFalse(usage.contains("%n"), cmd.getCommandName() + " help shows an unformatted '%n'");
                }));
    }
}
