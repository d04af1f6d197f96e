// The suite runs against Express 4 and 5, installed side by side under these aliases.
declare module 'express4' {
  import express = require('express');
  export = express;
}
declare module 'express5' {
  import express = require('express');
  export = express;
}
