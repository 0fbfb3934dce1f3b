export * from './inspector.js';
