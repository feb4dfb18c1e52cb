package io.github.zimage4j.server;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.openqa.selenium.By;
import org.openqa.selenium.JavascriptExecutor;
import org.openqa.selenium.OutputType;
import org.openqa.selenium.WebDriver;
import org.openqa.selenium.WebElement;
import org.openqa.selenium.chrome.ChromeDriver;
import org.openqa.selenium.chrome.ChromeDriverService;
import org.openqa.selenium.chrome.ChromeOptions;
import org.openqa.selenium.support.ui.ExpectedConditions;
import org.openqa.selenium.support.ui.Select;
import org.openqa.selenium.support.ui.WebDriverWait;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The web page end to end in a real headless Chromium (Debian's, through its chromedriver; scripts/test-deps
 * installs both): load the page against the server on the tiny model, submit a job, wait for the image, check
 * it appears with its seed. The screenshot stays in target/browser/ as the test's artifact. A missing
 * browser fails the test: it is never skipped.
 */
class BrowserTest {

    static final Path CHROMIUM = Path.of(System.getProperty("zimage.chromium", "/usr/bin/chromium"));
    static final Path CHROMEDRIVER = Path.of(System.getProperty("zimage.chromedriver", "/usr/bin/chromedriver"));

    @TempDir
    Path root;

    @Test
    void pageGeneratesAnImageAndShowsItsSeed() throws Exception {
        assertTrue(Files.isExecutable(CHROMIUM) && Files.isExecutable(CHROMEDRIVER),
                "the browser test needs " + CHROMIUM + " and " + CHROMEDRIVER + ": run scripts/test-deps (apt-get install chromium chromium-driver)");
        Path artifacts = Files.createDirectories(Path.of("target", "browser"));
        try (TestServer s = new TestServer(root).ready()) {
            ChromeOptions options = new ChromeOptions();
            options.setBinary(CHROMIUM.toFile());
            options.addArguments("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                    "--window-size=1280,900", "--user-data-dir=" + root.resolve("chrome-profile"));
            ChromeDriverService service = new ChromeDriverService.Builder().usingDriverExecutable(CHROMEDRIVER.toFile())
                    .usingAnyFreePort().build();
            WebDriver driver = new ChromeDriver(service, options);
            try {
                driver.get(s.server.uri() + "/");
                WebDriverWait wait = new WebDriverWait(driver, Duration.ofSeconds(60));
                wait.until(ExpectedConditions.textToBePresentInElementLocated(By.id("model"), "Turbo"));
                assertTrue(driver.findElement(By.id("turbo-note")).isDisplayed(), "the page says the model is Turbo");
                List<String> sizes = new Select(driver.findElement(By.id("size"))).getOptions().stream().map(WebElement::getText).toList();
                assertTrue(sizes.stream().anyMatch(t -> t.startsWith("1152 × 896")), sizes.toString());

                driver.findElement(By.id("prompt")).sendKeys("a red fox in the snow");
                new Select(driver.findElement(By.id("size"))).selectByValue("custom");
                setValue(driver, "width", "128");
                setValue(driver, "height", "96");
                setValue(driver, "steps", "3");
                setValue(driver, "seed", "4242");
                driver.findElement(By.id("generate")).click();

                WebElement card = wait.until(ExpectedConditions.visibilityOfElementLocated(By.cssSelector("#gallery .card")));
                wait.until(d -> (Boolean) ((JavascriptExecutor) d).executeScript(
                        "const i = document.querySelector('#gallery .card img'); return i.complete && i.naturalWidth > 0;"));
                assertEquals("seed 4242", card.findElement(By.className("seed")).getText());
                assertEquals(128L, ((JavascriptExecutor) driver).executeScript("return document.querySelector('#gallery .card img').naturalWidth;"));
                assertTrue(driver.findElement(By.id("status")).getText().startsWith("done"), driver.findElement(By.id("status")).getText());
                assertTrue(driver.findElement(By.id("preview-box")).isDisplayed(), "the last preview stays visible");
                assertEquals("", driver.findElement(By.id("error")).getText());

                // Reuse settings puts the image's settings back, seed locked.
                card.findElement(By.className("reuse")).click();
                assertEquals("4242", driver.findElement(By.id("seed")).getDomProperty("value"));
                assertEquals("true", driver.findElement(By.id("lock")).getDomAttribute("aria-pressed"));

                File shot = ((org.openqa.selenium.TakesScreenshot) driver).getScreenshotAs(OutputType.FILE);
                Files.copy(shot.toPath(), artifacts.resolve("page.png"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            } finally {
                driver.quit();
            }
        }
    }

    private static void setValue(WebDriver driver, String id, String value) {
        WebElement e = driver.findElement(By.id(id));
        e.clear();
        e.sendKeys(value);
    }
}
