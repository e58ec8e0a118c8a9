"""Writes tests/fixtures/functional/stacked_return_state.json: Keras 3.15.1's
config of Model(inp, RNN(StackedRNNCells([LSTMCell(4), GRUCell(2)]),
return_state=True)(inp)), whose output_layers nest the states one list per
cell ([["rnn",0,0], [["rnn",0,1], ["rnn",0,2]], ["rnn",0,3]]). Used by
tests/test_fit_edges_cli.c. Run with /work/kenv/bin/python from the repo root."""
import keras

inp = keras.Input((5, 3))
cell = keras.layers.StackedRNNCells([keras.layers.LSTMCell(4), keras.layers.GRUCell(2)])
outs = keras.layers.RNN(cell, return_state=True, name="rnn")(inp)
m = keras.Model(inp, outs, name="stacked_states")
assert isinstance(outs[1], list)  # the nesting the test is about
with open("tests/fixtures/functional/stacked_return_state.json", "w") as f:
    f.write(m.to_json())
