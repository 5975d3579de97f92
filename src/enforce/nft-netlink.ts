/** nf_tables over netlink lives in kernel/ (intel's feed sets use it too); enforce's imports stay as they were. */
export * from '../kernel/nft-netlink.js';
