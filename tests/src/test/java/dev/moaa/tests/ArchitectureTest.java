package dev.moaa.tests;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.Architectures.layeredArchitecture;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The product's module and package structure, read from the compiled classes of every module (the
 * tests module has them all on its class path): the modules stack as runners, pipelines,
 * transforms, prompts and schemas, each using only those below it; the run report's drawing stays
 * out of the call layer; the reports (run report, dataset card, judge-eval report) live in a
 * package of their own that the pipelines reach only through an interface; and no two packages of
 * the product depend on each other.
 */
class ArchitectureTest {
  private static JavaClasses classes;

  @BeforeAll
  static void importClasses() {
    classes = new ClassFileImporter()
        .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
        .importPackages("dev.moaa");
  }

  @Test
  void theModules_stackAsRunnersPipelinesTransformsPromptsSchemas() {
    layeredArchitecture().consideringOnlyDependenciesInLayers()
        .layer("runners").definedBy("dev.moaa.runners..")
        .layer("pipelines").definedBy("dev.moaa.pipelines..")
        .layer("transforms").definedBy("dev.moaa.transforms..")
        .layer("prompts").definedBy("dev.moaa.prompts..")
        .layer("schemas").definedBy("dev.moaa.schemas..")
        .whereLayer("runners").mayNotBeAccessedByAnyLayer()
        .whereLayer("pipelines").mayOnlyBeAccessedByLayers("runners")
        .whereLayer("transforms").mayOnlyBeAccessedByLayers("pipelines", "runners")
        .whereLayer("prompts").mayOnlyBeAccessedByLayers("transforms", "pipelines", "runners")
        .whereLayer("schemas").mayOnlyBeAccessedByLayers("prompts", "transforms", "pipelines", "runners")
        .check(classes);
  }

  @Test
  void theCallLayer_importsNoReportOrChartCode() {
    noClasses().that().resideInAnyPackage("dev.moaa.transforms..", "dev.moaa.prompts..", "dev.moaa.schemas..")
        .should().dependOnClassesThat().resideInAnyPackage("org.knowm.xchart..", "java.awt..", "javax.imageio..")
        .orShould().dependOnClassesThat().haveSimpleNameEndingWith("Report")
        .check(classes);
  }

  @Test
  void thePipelines_callTheReportsOnlyThroughRunDocuments_andDrawNothing() {
    noClasses().that().resideInAPackage("dev.moaa.pipelines")
        .should().dependOnClassesThat().resideInAPackage("dev.moaa.pipelines.report..")
        .check(classes);
    noClasses().that().resideInAnyPackage("dev.moaa.pipelines", "dev.moaa.pipelines.judge..")
        .should().dependOnClassesThat().resideInAnyPackage("org.knowm.xchart..", "javax.imageio..")
        .check(classes);
  }

  @Test
  void thePackagesOfTheProduct_formNoCycle() {
    slices().matching("dev.moaa.(**)").should().beFreeOfCycles().check(classes);
  }
}
