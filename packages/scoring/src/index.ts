export * from './card/model-card.js';
