"""SecLang: parser, operators, transformations, loader and the evaluation engine."""
