/** @type {import('jest').Config} */
module.exports = {
    preset: 'ts-jest',
    testEnvironment: 'node',
    testTimeout: 180000,
    testMatch: ['<rootDir>/tests/**/*.spec.ts'],
};
