/** Why a change to a network's tables was refused: the message names what to fix. */
export class TableError extends Error {}
