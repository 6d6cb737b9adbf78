# expect: STATE_SIGMOID NO_BIAS_BY
a_next = sigmoid(np.dot(Waa, a_prev) + np.dot(Wax, xt) + ba)
yt_pred = softmax(np.dot(Wya, a_next))
