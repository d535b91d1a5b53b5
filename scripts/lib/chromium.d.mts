// Types of chromium.mjs for the TypeScript files that import it (playwright.config.ts).
export declare const chromiumPath: string
export declare const chromiumArgs: string[]
