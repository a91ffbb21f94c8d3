// eslint for the module's JS (Odoo 19: ES modules under static/). `make lint` runs it with NODE_PATH
// pointing at $POS_MPESA_HOME/node/node_modules, where @eslint/js and globals are installed.
const js = require("@eslint/js");
const globals = require("globals");

module.exports = [
    {ignores: [".local/**", "node_modules/**"]},
    js.configs.recommended,
    {
        files: ["static/**/*.js"],
        languageOptions: {
            ecmaVersion: 2024,
            sourceType: "module",
            globals: {...globals.browser, odoo: "readonly", owl: "readonly", luxon: "readonly"},
        },
        rules: {
            "no-unused-vars": ["error", {args: "none"}],
            "no-console": "error",
            "no-debugger": "error",
            eqeqeq: "error",
            "prefer-const": "error",
            "no-var": "error",
        },
    },
];
